# Fails the docs build when a diagram of a page (Doxygen shows a \dotfile's SVG in an iframe as wide as
# the drawing) is wider than 960 px (720 pt): the text column of a 1280-px window, beside the side
# navigation. Wider, it would be cut or need scrolling at 100 %. Keep the .dot files narrow instead: no
# size= (which shrinks the text), labels wrapped, edges that lead back up with constraint=false.
#   awk -f check_widths.awk html/01_sync_accept/index.html ...   (exit 1 on any finding)
# Plain POSIX awk.
{
    line = $0
    while (match(line, /<iframe [^>]*src="[^"]*\.svg" width="[0-9]+"/)) {
        width = substr(line, RSTART, RLENGTH)
        sub(/.*width="/, "", width)
        width += 0
        if (width > 960) {
            printf "%s: a diagram %d px wide, more than the 960 px of the text column at 1280 px\n", \
                FILENAME, width > "/dev/stderr"
            bad++
        }
        line = substr(line, RSTART + RLENGTH)
    }
}
END { exit bad ? 1 : 0 }
