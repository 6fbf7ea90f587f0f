// The course site's navigation, the same on every page of every Doxygen project of the site:
//  - the side navigation: the course's pages in reading order (site/pages.js, written by the build
//    from one list in docs/CMakeLists.txt), the current page's sections under it;
//  - previous/next bars at the top and the bottom of every page of that order;
//  - one search over the text of the whole site (site/search_index.js, written by the build from the
//    generated HTML by docs/search_index.awk): every word of the query must occur in a section.
// COURSE_ROOT (set by the page header) leads from this page to the site's root, COURSE_OTHER from the
// site's root to the other language's site: every page links to the same page there.
(function () {
  "use strict";
  var pages = window.COURSE_PAGES || [];
  var root = window.COURSE_ROOT || "";
  var other = window.COURSE_OTHER;
  var here = location.href.replace(/[?#].*$/, "");
  // The words of the navigation itself, in the page's language.
  var T = {
    "en": {contents: "Contents", colon: ": ", pager: "Previous and next", previous: "Previous", next: "Next",
           toggle: "Light or dark", search: "Search the course", searchLabel: "Search the whole course",
           nothing: function (q) { return "Nothing found for “" + q + "”"; },
           glossary: "In the glossary", diagram: "Open the diagram on its own, to zoom in",
           otherTitle: "This page in Simplified Chinese"},
    "zh-CN": {contents: "目录", colon: "：", pager: "上一页和下一页", previous: "上一页", next: "下一页",
              toggle: "浅色或深色", search: "搜索课程", searchLabel: "搜索整个课程",
              nothing: function (q) { return "没有找到“" + q + "”"; },
              glossary: "见术语表", diagram: "单独打开这张图，便于放大",
              otherTitle: "This page in English"}
  };
  T = T[document.documentElement.lang] || T.en;

  function abs(url) { return new URL(root + url, location.href).href; }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  function link(href, text, cls) {
    var a = el("a", cls, text);
    a.href = href;
    return a;
  }

  // Which entry of the order this page belongs to: the page itself, or the lesson whose folder holds it.
  var current = -1;
  pages.forEach(function (p, i) {
    if (abs(p.url) === here) current = i;
  });
  if (current < 0)
    pages.forEach(function (p, i) {
      if (p.dir && here.indexOf(abs(p.dir + "/")) === 0) current = i;
    });

  // The current page's own sections, for its entry in the side navigation.
  function sections() {
    var list = [];
    document.querySelectorAll("div.contents h1, div.contents h2.groupheader").forEach(function (h) {
      var a = h.querySelector("a.anchor, a[id]") || h;
      var id = a.id || h.id;
      if (id && h.textContent.trim()) list.push([id, h.textContent.trim()]);
    });
    return list;
  }

  function buildNav(nav) {
    var top = el("div", "course-nav-top");
    var name = document.querySelector("#projectname a");
    top.appendChild(link(abs("index.html"), name ? name.textContent : "", "course-nav-home"));
    if (other) {
      // This page's path below the site's root, the same below the other site's root.
      var there = link(new URL(root + other.root + here.substring(abs("./").length), location.href).href +
        location.hash, other.label, "course-other-language");
      there.hreflang = there.lang = other.lang;
      there.title = T.otherTitle;
      top.appendChild(there);
    }
    if (window.customElements && customElements.get("doxygen-awesome-dark-mode-toggle")) {
      var toggle = document.createElement("doxygen-awesome-dark-mode-toggle");
      toggle.title = T.toggle;
      if (toggle.updateIcon) toggle.updateIcon();
      top.appendChild(toggle);
    }
    nav.appendChild(top);
    nav.appendChild(buildSearch());

    var details = el("details", "course-nav-pages");
    details.open = window.matchMedia("(min-width: 60em)").matches;
    details.appendChild(el("summary", null, current >= 0 ? T.contents + T.colon + pages[current].title : T.contents));
    var ol = el("ol");
    pages.forEach(function (p, i) {
      var li = el("li", i === current ? "current" : null);
      li.appendChild(link(abs(p.url), p.title));
      if (i === current) {
        var sub = el("ul");
        if (abs(p.url) === here)
          sections().forEach(function (s) {
            var item = el("li");
            item.appendChild(link("#" + s[0], s[1]));
            sub.appendChild(item);
          });
        (p.more || []).forEach(function (m) {
          var item = el("li", abs(p.dir + "/" + m[1]) === here ? "more current" : "more");
          item.appendChild(link(abs(p.dir + "/" + m[1]), m[0]));
          sub.appendChild(item);
        });
        if (sub.firstChild) li.appendChild(sub);
      }
      ol.appendChild(li);
    });
    details.appendChild(ol);
    nav.appendChild(details);
  }

  function pager(where) {
    var bar = el("nav", "course-pager course-pager-" + where);
    bar.setAttribute("aria-label", T.pager);
    if (current > 0) {
      var prev = link(abs(pages[current - 1].url), "", "prev");
      prev.appendChild(el("span", "label", T.previous));
      prev.appendChild(el("span", "title", pages[current - 1].title));
      bar.appendChild(prev);
    } else {
      bar.appendChild(el("span"));
    }
    if (current + 1 < pages.length) {
      var next = link(abs(pages[current + 1].url), "", "next");
      next.appendChild(el("span", "label", T.next));
      next.appendChild(el("span", "title", pages[current + 1].title));
      bar.appendChild(next);
    }
    return bar;
  }

  // --- search -----------------------------------------------------------------------------------
  var index = null;  // [[url, page title, section title, text, lower-case haystack], ...]

  function loadIndex() {
    if (index) return index;
    index = (window.COURSE_SEARCH || []).map(function (e) {
      return [e[0], e[1], e[2], e[3], (e[1] + " " + e[2] + " " + e[3]).toLowerCase()];
    });
    return index;
  }

  function snippet(text, word) {
    var at = text.toLowerCase().indexOf(word);
    var from = Math.max(0, at - 60);
    var s = (from > 0 ? "… " : "") + text.substr(from, 160) + (from + 160 < text.length ? " …" : "");
    var frag = document.createDocumentFragment();
    var lower = s.toLowerCase(), pos = 0, hit;
    while (word && (hit = lower.indexOf(word, pos)) >= 0) {
      frag.appendChild(document.createTextNode(s.substring(pos, hit)));
      frag.appendChild(el("mark", null, s.substr(hit, word.length)));
      pos = hit + word.length;
    }
    frag.appendChild(document.createTextNode(s.substring(pos)));
    return frag;
  }

  function search(query) {
    var words = query.toLowerCase().split(/\s+/).filter(function (w) { return w.length > 0; });
    if (!words.length) return [];
    var found = [];
    loadIndex().forEach(function (e) {
      var score = 0;
      for (var i = 0; i < words.length; i++) {
        if (e[4].indexOf(words[i]) < 0) return;
        if (e[2].toLowerCase().indexOf(words[i]) >= 0) score += 4;
        if (e[1].toLowerCase().indexOf(words[i]) >= 0) score += 2;
        score += Math.min(e[4].split(words[i]).length - 1, 5) / 5;
      }
      found.push([score, e]);
    });
    found.sort(function (a, b) { return b[0] - a[0]; });
    return found.slice(0, 40).map(function (f) { return f[1]; });
  }

  function buildSearch() {
    var box = el("div", "course-search");
    var input = el("input");
    input.type = "search";
    input.placeholder = T.search;
    input.setAttribute("aria-label", T.searchLabel);
    var results = el("ol", "course-search-results");
    results.hidden = true;
    function show() {
      var q = input.value.trim();
      results.textContent = "";
      if (q.length < 2) { results.hidden = true; return; }
      var hits = search(q);
      if (!hits.length) results.appendChild(el("li", "none", T.nothing(q)));
      hits.forEach(function (e) {
        var li = el("li");
        var a = link(abs(e[0]), "");
        a.appendChild(el("span", "where", e[1] + (e[2] && e[2] !== e[1] ? " › " + e[2] : "")));
        var p = el("span", "text");
        p.appendChild(snippet(e[3], q.toLowerCase().split(/\s+/)[0]));
        a.appendChild(p);
        li.appendChild(a);
        results.appendChild(li);
      });
      results.hidden = false;
    }
    input.addEventListener("input", show);
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter") {
        var first = results.querySelector("a");
        if (first) location.href = first.href;
      } else if (ev.key === "Escape") {
        input.value = "";
        show();
      }
    });
    box.appendChild(input);
    box.appendChild(results);
    // A link can carry a search: page.html?q=AcceptEx opens with its results shown.
    var asked = new URLSearchParams(location.search).get("q");
    if (asked) {
      input.value = asked;
      setTimeout(show, 0);
    }
    return box;
  }

  // --- glossary links ----------------------------------------------------------------------------
  // The first use of each glossary term on a page links to its entry (site/pages.js lists the terms).
  // A term written in capitals or in camel case (APC, AcceptEx) must match its case; others need not.
  function glossaryLinks() {
    var terms = (window.COURSE_GLOSSARY || []).map(function (t) {
      var word = t[0].split(" ")[0];
      var exact = /^[A-Z0-9_]+$/.test(word) || /[a-z][A-Z]/.test(word);
      var pattern = t[0].replace(/[.*+?^${}()|[\]\\\/]/g, "\\$&").replace(/ /g, "\\s+");
      return { re: new RegExp("(^|[^A-Za-z0-9_])(" + pattern + "(?:s|es)?)(?![A-Za-z0-9_])", exact ? "" : "i"),
               href: abs(t[1]), done: false };
    });
    var contents = document.querySelector("div.contents");
    if (!terms.length || !contents || /glossary\.html$/.test(here)) return;
    var skip = "a, pre, div.fragment, h1, h2, h3, h4, summary, .memproto, .memdoc, svg, script, table.memberdecls";
    function glossaryLink(href, child) {
      var a = link(href, "", "glossary-link");
      a.title = T.glossary;
      a.appendChild(child);
      return a;
    }
    var walker = document.createTreeWalker(contents, NodeFilter.SHOW_TEXT, null);
    var nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    nodes.forEach(function (node) {
      var parent = node.parentNode;
      if (!parent || parent.closest(skip)) return;
      if (parent.nodeName === "CODE") {
        // Inline code that is the term itself (AcceptEx, OVERLAPPED) becomes the link as a whole.
        var text = parent.textContent.replace(/\(\)$/, "");
        if (parent.parentNode.closest("a")) return;
        terms.some(function (t) {
          var m = !t.done && t.re.exec(text);
          if (!m || m[1] !== "" || m[2].length !== text.length) return false;
          t.done = true;
          parent.parentNode.replaceChild(glossaryLink(t.href, parent.cloneNode(true)), parent);
          return true;
        });
        return;
      }
      var rest = node;
      for (;;) {
        var best = null, bestAt = Infinity;
        terms.forEach(function (t) {
          if (t.done) return;
          var m = t.re.exec(rest.nodeValue);
          if (m && m.index + m[1].length < bestAt) { best = [t, m]; bestAt = m.index + m[1].length; }
        });
        if (!best) break;
        best[0].done = true;
        var word = rest.splitText(bestAt);
        rest = word.splitText(best[1][2].length);
        word.parentNode.replaceChild(glossaryLink(best[0].href, document.createTextNode(word.nodeValue)), word);
      }
    });
  }

  // Under each diagram, a link to the drawing on its own page, where a phone can zoom into it.
  function diagramLinks() {
    document.querySelectorAll("div.dotgraph iframe[src$='.svg']").forEach(function (frame) {
      var a = link(frame.getAttribute("src"), T.diagram, "diagram-open");
      frame.parentNode.insertBefore(a, frame.nextSibling);
    });
  }

  function start() {
    var nav = document.getElementById("course-nav");
    if (nav) buildNav(nav);
    var contents = document.querySelector("div.contents");
    if (current >= 0 && contents) {
      var header = document.querySelector("div.header") || contents;
      header.parentNode.insertBefore(pager("top"), header);
      contents.parentNode.insertBefore(pager("bottom"), contents.nextSibling);
    }
    glossaryLinks();
    diagramLinks();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
