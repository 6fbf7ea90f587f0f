/**
 * \file
 * \brief trace_svg: a trace of tests/trace.c drawn as an SVG timeline.
 *
 *     trace_svg [--from MS] [--to MS] [--title TEXT] [--lang en|zh-CN] TRACE > timeline.svg
 *
 * One lane per server thread, in the order the threads first show up: light where the thread
 * waits in a traced call (accept, recv, a port, an alertable sleep, an event wait), dark where it
 * runs. On the lanes a mark for each completion the thread handled, coloured by kind (accept,
 * receive, send, exit packet, APC), and for each cancel and each exit packet posted. Under the
 * lanes, a table of each thread's share: time waiting, completions handled and their share of
 * all. Only the window from --from to --to (milliseconds since the server started; default: the
 * trace's own `# window FROM TO` line, or all of it) is drawn, and the table counts that window.
 * The SVG scales (viewBox), so it zooms. --lang: the language of its words (en, or zh-CN for the
 * Chinese site).
 */
#ifndef _WIN32
#define _POSIX_C_SOURCE 200809L
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_THREADS = 64, WIDTH = 940, LEFT = 170, RIGHT = 16, TOP = 70, LANE = 34, ROW = 20 };

/** \brief A lane's role, from the waits its thread made (role_of). */
enum role { WORKER, IO_THREAD, ONE_THREAD, ACCEPT_THREAD, EVENT_WAITER, MAIN_THREAD, ROLES };

/** \brief One line of the trace. */
struct event {
    long long start, end; /**< microseconds since the server started */
    unsigned long thread;
    char class[8], name[24];
    long long bytes;
};

/** \brief What one thread did in the window. */
struct lane {
    unsigned long thread;
    long long first, last; /**< its first and last event in the window */
    long long waited; /**< microseconds in traced waits, inside the window */
    long handled; /**< completions it took (done) or ran (run) */
    enum role role;
};

static const char *const kinds[] = {"accept", "recv",   "send",      "event", "exit",
                                    "apc",    "cancel", "post_exit", "other"};
static const char *const colours[] = {"#2ca02c", "#1f77b4", "#ff7f0e", "#17becf", "#d62728",
                                      "#9467bd", "#111111", "#8c1c13", "#7f7f7f"};
enum { HANDLED_KINDS = 4 }; /**< the kinds before this index are I/O a thread handled */
enum { KINDS = sizeof kinds / sizeof kinds[0] };

/**
 * \brief The drawing's words in one language (--lang). A sentence with numbers in it is kept in
 * pieces that go around the numbers, so every printf format stays a literal.
 */
struct words {
    const char *lang, *font;
    const char *labels[KINDS]; /**< each kind of mark, in the legend and the marks' tooltips */
    const char *roles[ROLES];
    const char *thread[3]; /**< around a lane's thread id and role */
    const char *window[3]; /**< around the window's span and its start, in ms */
    const char *mark[3]; /**< a mark's tooltip: around its bytes and its time */
    const char *columns[4]; /**< the table's headers */
};

static const struct words languages[] = {
    {"en",
     "Helvetica, Arial, sans-serif",
     {"accept completed", "receive completed", "send completed", "woke on an event",
      "exit packet taken", "APC ran", "CancelIoEx", "exit packet posted", "other completion"},
     {"worker", "I/O thread", "the one thread", "accept thread", "waits on events", "main"},
     {"thread ", " (", ")"},
     {"", " ms from ",
      " ms after the start; light: waiting in a traced call, dark: running; marks: what the "
      "thread handled"},
     {", ", " bytes, at ", " ms"},
     {"thread", "waiting", "completions handled", "share of all"}},
    {"zh-CN",
     "Helvetica, Arial, Noto Sans CJK SC, Microsoft YaHei, PingFang SC, Droid Sans Fallback, "
     "sans-serif",
     {"accept 完成", "接收完成", "发送完成", "因事件而唤醒", "取到退出包", "APC 运行",
      "CancelIoEx", "投递退出包", "其他完成"},
     {"工作线程", "I/O 线程", "唯一的线程", "接受线程", "等待事件", "主线程"},
     {"线程 ", "（", "）"},
     {"", " ms，自开始后 ",
      " ms 起；浅色：在被跟踪的调用中等待，深色：运行；标记：该线程处理的完成"},
     {"，", " 字节，在 ", " ms"},
     {"线程", "等待时间", "处理的完成", "占全部的比例"}},
};

/** \brief The mark an event gets (an index of kinds), or -1 for none. */
static int kind_of(const struct event *e)
{
    const char *name = e->name;

    if (strcmp(e->class, "call") == 0 && strcmp(name, "post_exit") != 0 &&
        strcmp(name, "cancel") != 0)
        return -1; /* posts are not marked: the completions are */
    if (strcmp(e->class, "wait") ==
        0) { /* a blocking accept or recv that returned is its completion */
        if (strcmp(name, "accept") == 0)
            return 0;
        if (strcmp(name, "recv") == 0 && e->bytes >= 0)
            return 1;
        if (strncmp(name, "events", 6) == 0 && e->bytes >= 0 &&
            e->bytes < 64) /* WSA_WAIT_EVENT_0 + index */
            return 3;
        return -1;
    }
    for (int k = 0; k < KINDS; k++)
        if (strcmp(name, kinds[k]) == 0)
            return k;
    return KINDS - 1;
}

static void usage(void)
{
    fprintf(stderr, "usage: trace_svg [--from MS] [--to MS] [--title TEXT] [--lang en|zh-CN] TRACE "
                    "> timeline.svg\n");
}

/** \brief A role for the lane's label, from the waits it made. */
static enum role role_of(int accepts, int ports, int alertable, int others)
{
    if (ports > 0)
        return WORKER;
    if (alertable > 0)
        return IO_THREAD;
    if (accepts > 0)
        return others > 0 ? ONE_THREAD : ACCEPT_THREAD;
    return others > 0 ? EVENT_WAITER : MAIN_THREAD;
}

static double x_of(long long t, long long from, long long to)
{
    if (t < from)
        t = from;
    if (t > to)
        t = to;
    return LEFT + (double)(t - from) * (WIDTH - LEFT - RIGHT) / (double)(to - from);
}

int main(int argc, char **argv)
{
    const char *path = NULL, *title = "timeline";
    const struct words *w = &languages[0];
    long long from = -1, to = -1, total = 0;
    struct event *events = NULL;
    size_t count = 0, room = 0;
    struct lane lanes[MAX_THREADS];
    int lane_count = 0, accepts[MAX_THREADS] = {0}, ports[MAX_THREADS] = {0},
        alertable[MAX_THREADS] = {0}, others[MAX_THREADS] = {0};
    long per_kind[KINDS] = {0};
    char line[256];
    FILE *in;

    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--from") == 0 || strcmp(argv[i], "--to") == 0) && i + 1 < argc) {
            char *end;
            long long ms = strtoll(argv[i + 1], &end, 10);

            if (*end != '\0' || ms < 0) {
                usage();
                return 2;
            }
            *(argv[i][2] == 'f' ? &from : &to) = ms * 1000;
            i++;
        } else if (strcmp(argv[i], "--title") == 0 && i + 1 < argc) {
            title = argv[++i];
        } else if (strcmp(argv[i], "--lang") == 0 && i + 1 < argc) {
            size_t n = sizeof languages / sizeof languages[0];

            w = NULL;
            for (size_t k = 0; k < n && w == NULL; k++)
                if (strcmp(argv[i + 1], languages[k].lang) == 0)
                    w = &languages[k];
            if (w == NULL) {
                usage();
                return 2;
            }
            i++;
        } else if (path == NULL && argv[i][0] != '-') {
            path = argv[i];
        } else {
            usage();
            return 2;
        }
    }
    if (path == NULL) {
        usage();
        return 2;
    }
    in = fopen(path, "r");
    if (in == NULL) {
        perror(path);
        return 1;
    }
    while (fgets(line, sizeof line, in)) {
        struct event e;
        unsigned long long handle;

        long long lo, hi;

        /* A kept trace names the window it was cut for; --from and --to win over it. */
        if (sscanf(line, "# window %lld %lld", &lo, &hi) == 2) {
            from = from < 0 ? lo * 1000 : from;
            to = to < 0 ? hi * 1000 : to;
            continue;
        }
        if (sscanf(line, "%lld %lld %lu %7s %23s %llx %lld", &e.start, &e.end, &e.thread, e.class,
                   e.name, &handle, &e.bytes) != 7)
            continue; /* a comment, or a line cut short by a killed server */
        if (count == room) {
            struct event *more = realloc(events, (room = room ? 2 * room : 4096) * sizeof *events);

            if (more == NULL) {
                fprintf(stderr, "trace_svg: out of memory\n");
                free(events);
                fclose(in);
                return 1;
            }
            events = more;
        }
        events[count++] = e;
    }
    fclose(in);
    if (count == 0) {
        fprintf(stderr, "trace_svg: %s holds no events\n", path);
        free(events);
        return 1;
    }
    if (from < 0 || to < 0) {
        long long lo = events[0].start, hi = events[0].end;

        for (size_t i = 0; i < count; i++) {
            lo = events[i].start < lo ? events[i].start : lo;
            hi = events[i].end > hi ? events[i].end : hi;
        }
        from = from < 0 ? lo : from;
        to = to < 0 ? hi : to;
    }
    if (to <= from)
        to = from + 1;
    /* Lanes in the order the threads first show up in the window. */
    for (size_t i = 0; i < count; i++) {
        const struct event *e = &events[i];
        int l = 0;

        if (e->end < from || e->start > to)
            continue;
        while (l < lane_count && lanes[l].thread != e->thread)
            l++;
        if (l == lane_count) {
            if (lane_count == MAX_THREADS)
                continue;
            memset(&lanes[l], 0, sizeof lanes[l]);
            lanes[l].thread = e->thread;
            lanes[l].first = e->start;
            lanes[l].last = e->end;
            lane_count++;
        }
        lanes[l].first = e->start < lanes[l].first ? e->start : lanes[l].first;
        lanes[l].last = e->end > lanes[l].last ? e->end : lanes[l].last;
        if (strcmp(e->class, "wait") == 0) {
            long long a = e->start < from ? from : e->start, b = e->end > to ? to : e->end;

            lanes[l].waited += b - a;
            accepts[l] += strcmp(e->name, "accept") == 0 || strcmp(e->name, "recv") == 0;
            ports[l] += strcmp(e->name, "port") == 0;
            alertable[l] += strstr(e->name, "alertable") != NULL;
            others[l] += strcmp(e->name, "events") == 0 || strcmp(e->name, "recv") == 0;
        }
        if (strcmp(e->class, "done") == 0 || strcmp(e->class, "run") == 0 ||
            (kind_of(e) >= 0 && kind_of(e) < HANDLED_KINDS)) {
            lanes[l].handled++;
            total++;
        }
    }
    for (int l = 0; l < lane_count; l++)
        lanes[l].role = role_of(accepts[l], ports[l], alertable[l], others[l]);

    {
        /* Lanes, two rows of legend, the table. */
        int legend_top = TOP + lane_count * LANE + 20, table_top = legend_top + 2 * 16 + 24;
        int height = table_top + (lane_count + 1) * ROW;

        printf("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" "
               "height=\"%d\" "
               "font-family=\"%s\" font-size=\"12\">\n",
               WIDTH, height, WIDTH, height, w->font);
        printf("<title>%s</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#ffffff\"/>\n",
               title);
        printf("<text x=\"%d\" y=\"20\" font-size=\"15\" font-weight=\"bold\">%s</text>\n", LEFT,
               title);
        printf("<text x=\"%d\" y=\"38\" fill=\"#555\">%s%.1f%s%.1f%s</text>\n", LEFT, w->window[0],
               (double)(to - from) / 1000.0, w->window[1], (double)from / 1000.0, w->window[2]);
        /* The time axis: ten ticks. */
        for (int t = 0; t <= 10; t++) {
            double x = LEFT + (double)t * (WIDTH - LEFT - RIGHT) / 10.0;

            printf("<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>\n", x,
                   TOP - 8, x, TOP + lane_count * LANE);
            printf(
                "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%.1f ms</text>\n",
                x, TOP - 12, (double)(to - from) * t / 10000.0);
        }
        for (int l = 0; l < lane_count; l++) {
            int y = TOP + l * LANE + 6;

            printf("<g class=\"lane\" data-thread=\"%lu\">\n", lanes[l].thread);
            printf("<text x=\"8\" y=\"%d\">%s%lu%s%s%s</text>\n", y + 15, w->thread[0],
                   lanes[l].thread, w->thread[1], w->roles[lanes[l].role], w->thread[2]);
            printf("<rect class=\"run\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"20\" "
                   "fill=\"#34495e\"/>\n",
                   x_of(lanes[l].first, from, to), y,
                   x_of(lanes[l].last, from, to) - x_of(lanes[l].first, from, to));
            for (size_t i = 0; i < count; i++) {
                const struct event *e = &events[i];

                if (e->thread != lanes[l].thread || e->end < from || e->start > to ||
                    strcmp(e->class, "wait") != 0)
                    continue;
                printf("<rect class=\"wait\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"20\" "
                       "fill=\"#dfe6ee\"><title>"
                       "%s</title></rect>\n",
                       x_of(e->start, from, to), y,
                       x_of(e->end, from, to) - x_of(e->start, from, to), e->name);
            }
            for (size_t i = 0; i < count; i++) {
                const struct event *e = &events[i];
                int k = kind_of(e);

                /* A wait is marked where it returned; anything else where it began. */
                long long at = strcmp(e->class, "wait") == 0 ? e->end : e->start;

                if (e->thread != lanes[l].thread || e->end < from || e->start > to || k < 0)
                    continue;
                per_kind[k]++;
                printf("<rect class=\"mark %s\" x=\"%.1f\" y=\"%d\" width=\"2.5\" height=\"28\" "
                       "fill=\"%s\"><title>"
                       "%s%s%lld%s%.3f%s</title></rect>\n",
                       kinds[k], x_of(at, from, to) - 1.0, y - 4, colours[k], w->labels[k],
                       w->mark[0], e->bytes, w->mark[1], (double)at / 1000.0, w->mark[2]);
            }
            printf("</g>\n");
        }
        /* The legend, then the table of shares. */
        for (int k = 0, shown = 0; k < KINDS; k++) {
            int x = LEFT + shown % 4 * 185, y = legend_top + shown / 4 * 16;

            if (per_kind[k] == 0)
                continue;
            printf("<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"%s\"/><text x=\"%d\" "
                   "y=\"%d\">%s "
                   "(%ld)</text>\n",
                   x, y, colours[k], x + 14, y + 9, w->labels[k], per_kind[k]);
            shown++;
        }
        printf("<g class=\"table\">\n<text x=\"8\" y=\"%d\" font-weight=\"bold\">%s</text>"
               "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>"
               "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>"
               "<text x=\"%d\" y=\"%d\" font-weight=\"bold\">%s</text>\n",
               table_top, w->columns[0], LEFT, table_top, w->columns[1], LEFT + 150, table_top,
               w->columns[2], LEFT + 350, table_top, w->columns[3]);
        for (int l = 0; l < lane_count; l++) {
            long long span = to - from;
            int y = table_top + (l + 1) * ROW;

            printf(
                "<g class=\"row\" data-thread=\"%lu\"><text x=\"8\" y=\"%d\">%s%lu%s%s%s</text>"
                "<text x=\"%d\" y=\"%d\">%.0f %%</text><text x=\"%d\" y=\"%d\">%ld</text>"
                "<text x=\"%d\" y=\"%d\">%.0f %%</text></g>\n",
                lanes[l].thread, y, w->thread[0], lanes[l].thread, w->thread[1],
                w->roles[lanes[l].role], w->thread[2], LEFT, y,
                100.0 * (double)lanes[l].waited / (double)span, LEFT + 150, y, lanes[l].handled,
                LEFT + 350, y, total ? 100.0 * (double)lanes[l].handled / (double)total : 0.0);
        }
        printf("</g>\n</svg>\n");
    }
    free(events);
    return 0;
}
