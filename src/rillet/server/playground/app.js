// rillet playground: a chat page over this server's own OpenAI-compatible API.
//
// Hand-written, no build step, no dependencies, nothing loaded from elsewhere. Model output
// only ever reaches the page as text: the Markdown renderer below builds DOM nodes with
// createElement / textContent and never parses HTML, links are kept only for http(s) URLs,
// and images are shown as inert text, never loaded. The page's CSP backs this up.
"use strict";

(() => {
  const STORE = "rillet.playground.";
  const $ = (id) => document.getElementById(id);
  const ui = {
    layout: document.querySelector(".layout"),
    toggleSidebar: $("toggle-sidebar"),
    title: $("title"),
    newChat: $("new-chat"),
    conversations: $("conversations"),
    settings: $("settings"),
    settingsForm: $("settings-form"),
    api: $("s-api"),
    model: $("s-model"),
    models: $("s-models"),
    system: $("s-system"),
    temperature: $("s-temperature"),
    topP: $("s-top-p"),
    maxTokens: $("s-max-tokens"),
    apiKey: $("s-api-key"),
    notice: $("notice"),
    messages: $("messages"),
    empty: $("empty"),
    composer: $("composer"),
    input: $("message"),
    send: $("send"),
    stop: $("stop"),
    status: $("status"),
  };

  // ---------------------------------------------------------------- storage

  function load(key, fallback) {
    try {
      const text = localStorage.getItem(STORE + key);
      return text === null ? fallback : JSON.parse(text);
    } catch {
      return fallback;
    }
  }

  function store(key, value) {
    try {
      localStorage.setItem(STORE + key, JSON.stringify(value));
    } catch (error) {
      showNotice(`Could not save to this browser's storage: ${error.message}`);
    }
  }

  const DEFAULT_SETTINGS = {
    api: "chat",
    model: "",
    system: "",
    temperature: "",
    top_p: "",
    max_tokens: "",
    api_key: "",
  };
  const settings = { ...DEFAULT_SETTINGS, ...load("settings", {}) };
  // [{id, title, titled, updated, messages: [{role, content, status?, error?, meta?}]}]
  let conversations = load("conversations", []);
  if (!Array.isArray(conversations)) conversations = [];
  let currentId = load("current", null);
  let defaultModel = "";
  let running = null; // {controller, conversation, message}

  // A reload or a closed tab during an answer: keep the part that arrived, marked as cut.
  for (const conversation of conversations) {
    for (const message of conversation.messages || []) {
      if (message.status === "streaming") {
        message.status = "cut";
        message.error = "The page was closed or reloaded before this answer was complete.";
      }
    }
  }

  function saveConversations() {
    store("conversations", conversations);
    store("current", currentId);
  }

  function current() {
    return conversations.find((c) => c.id === currentId) || null;
  }

  function newId() {
    const bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function titleFrom(text) {
    const line = text.trim().split(/\s+/).join(" ");
    return line.length > 48 ? `${line.slice(0, 47)}…` : line || "New chat";
  }

  // ---------------------------------------------------------------- small DOM helpers

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(text, className, label) {
    const node = el("button", className, text);
    node.type = "button";
    if (label) {
      node.setAttribute("aria-label", label);
      node.title = label;
    }
    return node;
  }

  let statusTimer = 0;
  function announce(text) {
    ui.status.textContent = text;
    clearTimeout(statusTimer);
    statusTimer = setTimeout(() => {
      ui.status.textContent = "";
    }, 4000);
  }

  function showNotice(text) {
    ui.notice.textContent = text;
    ui.notice.hidden = !text;
  }

  async function copyText(text) {
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        copied = true;
      }
    } catch {
      copied = false;
    }
    if (!copied) {
      const focused = document.activeElement;
      const helper = el("textarea", "clipboard-helper");
      helper.value = text;
      helper.setAttribute("readonly", "");
      document.body.append(helper);
      helper.select();
      try {
        copied = document.execCommand("copy");
      } catch {
        copied = false;
      }
      helper.remove();
      if (focused instanceof HTMLElement) focused.focus();
    }
    announce(copied ? "Copied to the clipboard." : "Could not copy: the browser refused.");
  }

  // ---------------------------------------------------------------- Markdown, as DOM nodes

  const MAX_DEPTH = 6;

  function safeUrl(raw) {
    try {
      const url = new URL(raw.trim());
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch {
      return null;
    }
  }

  function link(href, label, depth) {
    const a = el("a");
    a.href = href;
    a.rel = "noopener noreferrer nofollow";
    a.target = "_blank";
    a.referrerPolicy = "no-referrer";
    inline(label, a, depth + 1, false);
    return a;
  }

  // `[label](target)` starting at text[start] (the `[`): [label, target, end] or null.
  function bracketLink(text, start) {
    let depth = 0;
    let i = start;
    for (; i < text.length; i++) {
      const c = text[i];
      if (c === "\\") i++;
      else if (c === "[") depth++;
      else if (c === "]" && --depth === 0) break;
    }
    if (i >= text.length || text[i + 1] !== "(") return null;
    const label = text.slice(start + 1, i);
    let parens = 0;
    let j = i + 1;
    for (; j < text.length; j++) {
      const c = text[j];
      if (c === "(") parens++;
      else if (c === ")" && --parens === 0) break;
    }
    if (j >= text.length) return null;
    const target = text.slice(i + 2, j).trim().split(/\s+/)[0] || "";
    return [label, target.replace(/^<(.*)>$/, "$1"), j + 1];
  }

  const BARE_URL = /^https?:\/\/[^\s<>"'`]+/i;
  const EMPHASIS = [
    ["**", "strong"],
    ["__", "strong"],
    ["~~", "del"],
    ["*", "em"],
    ["_", "em"],
  ];

  // Inline Markdown of `text` appended to `parent`: code spans, emphasis, links, images (as
  // text), autolinks and backslash escapes; anything else, HTML included, stays text.
  function inline(text, parent, depth = 0, links = true) {
    if (depth > MAX_DEPTH) {
      parent.append(text);
      return;
    }
    let plain = "";
    const flush = () => {
      if (plain) parent.append(plain);
      plain = "";
    };
    let i = 0;
    outer: while (i < text.length) {
      const c = text[i];
      if (c === "\\" && i + 1 < text.length && /[!-/:-@[-`{-~]/.test(text[i + 1])) {
        plain += text[i + 1];
        i += 2;
        continue;
      }
      if (c === "`") {
        const run = /^`+/.exec(text.slice(i))[0];
        const close = text.indexOf(run, i + run.length);
        if (close > 0) {
          flush();
          let code = text.slice(i + run.length, close);
          if (/^ .*\S.* $/.test(code)) code = code.slice(1, -1);
          parent.append(el("code", "", code));
          i = close + run.length;
          continue;
        }
        plain += run;
        i += run.length;
        continue;
      }
      if (c === "!" && text[i + 1] === "[") {
        const found = bracketLink(text, i + 1);
        if (found) {
          flush();
          // Never loaded: an image could call home or track a reader.
          const image = el("span", "md-image", `[image: ${found[0] || "untitled"}]`);
          image.title = `Not loaded: ${found[1]}`;
          parent.append(image);
          i = found[2];
          continue;
        }
      }
      if (c === "[" && links) {
        const found = bracketLink(text, i);
        if (found) {
          const href = safeUrl(found[1]);
          flush();
          if (href) parent.append(link(href, found[0], depth));
          else parent.append(text.slice(i, found[2])); // javascript:, relative, ...: as text
          i = found[2];
          continue;
        }
      }
      if (c === "<" && links) {
        const auto = /^<(https?:\/\/[^\s<>]+)>/i.exec(text.slice(i));
        if (auto && safeUrl(auto[1])) {
          flush();
          parent.append(link(safeUrl(auto[1]), auto[1], depth));
          i += auto[0].length;
          continue;
        }
      }
      if ((c === "h" || c === "H") && links && !/\w/.test(text[i - 1] || "")) {
        const bare = BARE_URL.exec(text.slice(i));
        if (bare) {
          let url = bare[0].replace(/[.,;:!?'")\]]+$/, "");
          const opened = (url.match(/\(/g) || []).length;
          const closed = (url.match(/\)/g) || []).length;
          if (closed > opened) url = url.replace(/\)+$/, "");
          const href = safeUrl(url);
          if (href) {
            flush();
            parent.append(link(href, url, depth));
            i += url.length;
            continue;
          }
        }
      }
      for (const [marker, tag] of EMPHASIS) {
        if (!text.startsWith(marker, i)) continue;
        const after = text[i + marker.length] || "";
        if (!after || /\s/.test(after)) continue;
        if (marker[0] === "_" && /\w/.test(text[i - 1] || "")) continue; // snake_case
        let close = text.indexOf(marker, i + marker.length + 1);
        while (close > 0 && /\s/.test(text[close - 1])) {
          close = text.indexOf(marker, close + 1);
        }
        if (close < 0) continue;
        if (marker.length === 1 && text[close + 1] === marker) continue; // `*a**`
        if (marker[0] === "_" && /\w/.test(text[close + 1] || "")) continue;
        flush();
        const node = el(tag);
        inline(text.slice(i + marker.length, close), node, depth + 1, links);
        parent.append(node);
        i = close + marker.length;
        continue outer;
      }
      plain += c;
      i++;
    }
    flush();
  }

  function codeBlock(code, language) {
    const box = el("div", "codeblock");
    const bar = el("div", "codebar");
    bar.append(el("span", "lang", language || "code"));
    const copy = button("Copy code", "small ghost");
    copy.addEventListener("click", () => copyText(code));
    bar.append(copy);
    const pre = el("pre");
    const codeNode = el("code", "", code);
    if (language) codeNode.dataset.language = language;
    pre.append(codeNode);
    pre.tabIndex = 0; // long lines scroll: keyboard users can scroll them too
    box.append(bar, pre);
    return box;
  }

  const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)/;
  const HEADING = /^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$/;
  const RULE = /^ {0,3}([-*_])(?:\s*\1){2,}\s*$/;
  const ITEM = /^([ \t]*)([-*+]|\d{1,9}[.)])(?:[ \t]+(.*))?$/;
  const QUOTE = /^ {0,3}>\s?(.*)$/;
  const DELIMITER_CELL = /^\s*(:?)-+(:?)\s*$/;

  // Columns of leading whitespace, a tab counting to the next multiple of four.
  function indentOf(line) {
    let width = 0;
    for (const c of line) {
      if (c === " ") width++;
      else if (c === "\t") width += 4 - (width % 4);
      else break;
    }
    return width;
  }

  // A list item line: {indent, ordered, start, text}, or null. `-` alone is an empty item,
  // but `---` is a rule and `-foo` a paragraph.
  function listItem(line) {
    const match = ITEM.exec(line);
    if (!match || RULE.test(line)) return null;
    const ordered = /\d/.test(match[2]);
    return { indent: indentOf(line), ordered, start: ordered ? parseInt(match[2], 10) : 1, text: match[3] || "" };
  }

  // The list starting at lines[i] (an item line), with the lists nested in its items (a
  // deeper item starts one; bullets and numbers mix freely across levels), appended to
  // `container`; returns the index of the first line after it. A list ends at a shallower
  // item, an item of the other kind at its own level, or a line that belongs to no item.
  function list(lines, i, container, depth) {
    const first = listItem(lines[i]);
    const node = el(first.ordered ? "ol" : "ul");
    if (first.ordered && first.start !== 1) node.start = first.start;
    container.append(node);
    let item = null;
    let textIndent = first.indent + 2; // deeper than this starts a nested list
    while (i < lines.length) {
      const line = lines[i];
      if (!line.trim()) {
        // A blank line ends the list unless the list goes on after it.
        let next = i + 1;
        while (next < lines.length && !lines[next].trim()) next++;
        const after = next < lines.length ? lines[next] : "";
        const again = listItem(after);
        if (!(again && again.indent >= first.indent) && !(item && indentOf(after) >= textIndent)) break;
        i = next;
        continue;
      }
      const found = listItem(line);
      if (found && found.indent < first.indent) break;
      if (found && found.indent < textIndent) {
        if (found.ordered !== first.ordered) break; // the other kind: a list of its own
        item = el("li");
        inline(found.text, item, depth);
        node.append(item);
        textIndent = found.indent + 2;
        i++;
        continue;
      }
      if (found && item && depth < MAX_DEPTH) {
        i = list(lines, i, item, depth + 1);
        continue;
      }
      if (item && indentOf(line) >= first.indent + 1) {
        item.append(el("br")); // a continuation line of the item
        inline(line.trim(), item, depth);
        i++;
        continue;
      }
      break;
    }
    return i;
  }

  // The cells of a pipe-table row: split at pipes that are not backslash-escaped, the outer
  // pipes dropped; an escaped pipe stays in the cell (inline() makes it a plain `|`).
  function cells(line) {
    let text = line.trim();
    if (text.startsWith("|")) text = text.slice(1);
    if (text.endsWith("|") && !text.endsWith("\\|")) text = text.slice(0, -1);
    const result = [];
    let cell = "";
    for (let k = 0; k < text.length; k++) {
      if (text[k] === "\\" && k + 1 < text.length) {
        cell += text[k] + text[k + 1];
        k++;
      } else if (text[k] === "|") {
        result.push(cell.trim());
        cell = "";
      } else {
        cell += text[k];
      }
    }
    result.push(cell.trim());
    return result;
  }

  // The alignments of a delimiter row (`|:--|:-:|--:|`), or null when the line is not one
  // with exactly `columns` cells.
  function alignments(line, columns) {
    if (!line.includes("-") || !/^[\s|:-]+$/.test(line)) return null;
    const row = cells(line);
    if (row.length !== columns) return null;
    const result = [];
    for (const cell of row) {
      const match = DELIMITER_CELL.exec(cell);
      if (!match) return null;
      result.push(match[1] && match[2] ? "center" : match[2] ? "right" : match[1] ? "left" : "");
    }
    return result;
  }

  // The alignments of the table whose header row is lines[i], or null if none starts there.
  function tableAt(lines, i) {
    if (!lines[i].includes("|") || i + 1 >= lines.length) return null;
    return alignments(lines[i + 1], cells(lines[i]).length);
  }

  // The GFM pipe table at lines[i] (header row, delimiter row with `align`, then body rows
  // until a blank line or a line without a pipe), appended to `container`; returns the index
  // of the line after it. Short rows are padded, cells past the header's count dropped.
  function table(lines, i, align, container, depth) {
    const header = cells(lines[i]);
    const row = (values, tag) => {
      const tr = el("tr");
      align.forEach((side, column) => {
        const cell = el(tag, side ? `align-${side}` : "");
        if (tag === "th") cell.scope = "col";
        inline(values[column] || "", cell, depth);
        tr.append(cell);
      });
      return tr;
    };
    const node = el("table");
    const head = el("thead");
    head.append(row(header, "th"));
    node.append(head);
    const body = el("tbody");
    i += 2;
    while (i < lines.length && lines[i].trim() && lines[i].includes("|")) {
      body.append(row(cells(lines[i]), "td"));
      i++;
    }
    if (body.childElementCount) node.append(body);
    const wrap = el("div", "table-wrap"); // wide tables scroll inside, not the page
    wrap.tabIndex = 0;
    wrap.append(node);
    container.append(wrap);
    return i;
  }

  // Block-level Markdown of `text` appended to `container`: paragraphs, headings, fenced code
  // (closed or still streaming), lists (nested), pipe tables, quotes and rules.
  function blocks(text, container, depth = 0) {
    const lines = text.split(/\r\n|\r|\n/);
    let paragraph = [];
    const flush = () => {
      if (!paragraph.length) return;
      const p = el("p");
      paragraph.forEach((line, k) => {
        if (k) p.append(el("br"));
        inline(line, p, depth);
      });
      container.append(p);
      paragraph = [];
    };
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      const fence = FENCE.exec(line);
      if (fence) {
        flush();
        const marker = fence[1];
        const closing = new RegExp(`^ {0,3}${marker[0]}{${marker.length},}\\s*$`);
        const body = [];
        i++;
        while (i < lines.length && !closing.test(lines[i])) body.push(lines[i++]);
        i++;
        container.append(codeBlock(body.join("\n"), fence[2]));
        continue;
      }
      if (!line.trim()) {
        flush();
        i++;
        continue;
      }
      const heading = HEADING.exec(line);
      if (heading) {
        flush();
        const h = el(`h${Math.min(heading[1].length + 1, 6)}`);
        inline(heading[2], h, depth);
        container.append(h);
        i++;
        continue;
      }
      if (RULE.test(line)) {
        flush();
        container.append(el("hr"));
        i++;
        continue;
      }
      if (QUOTE.test(line) && depth < MAX_DEPTH) {
        flush();
        const quoted = [];
        while (i < lines.length && QUOTE.test(lines[i])) quoted.push(QUOTE.exec(lines[i++])[1]);
        const quote = el("blockquote");
        blocks(quoted.join("\n"), quote, depth + 1);
        container.append(quote);
        continue;
      }
      if (listItem(line)) {
        flush();
        i = list(lines, i, container, depth);
        continue;
      }
      const align = tableAt(lines, i);
      if (align) {
        flush();
        i = table(lines, i, align, container, depth);
        continue;
      }
      paragraph.push(line);
      i++;
    }
    flush();
  }

  function renderMarkdown(text, container) {
    container.replaceChildren();
    blocks(text, container);
  }

  // ---------------------------------------------------------------- rendering

  function formatMeta(meta) {
    const parts = [];
    if (typeof meta.ttft_ms === "number") {
      parts.push(`${Math.round(meta.ttft_ms)} ms to first token`);
    }
    if (typeof meta.tokens_per_second === "number") {
      parts.push(`${meta.tokens_per_second.toFixed(1)} tokens/s`);
    }
    if (typeof meta.tokens === "number") {
      parts.push(`${meta.tokens} ${meta.tokens === 1 ? "token" : "tokens"}`);
    }
    if (meta.finish) parts.push(`finish: ${meta.finish}`);
    if (meta.resumes) {
      parts.push(meta.resumes === 1 ? "resumed after a cut" : `resumed after ${meta.resumes} cuts`);
    }
    return parts.join(" · ");
  }

  const STATUS_LABELS = {
    stopped: "Stopped",
    cut: "Incomplete",
    error: "Incomplete",
  };

  function renderMessage(conversation, index) {
    const message = conversation.messages[index];
    const item = el("li", `msg ${message.role}`);
    item.dataset.index = String(index);
    item.dataset.status = message.status || "done";
    item.append(el("div", "role", message.role === "user" ? "You" : "Assistant"));
    const content = el("div", message.role === "user" ? "content plain" : "content md");
    item.append(content);
    fillMessage(item, message);
    const actions = el("div", "actions");
    if (message.role === "user") {
      const edit = button("Edit", "small ghost");
      edit.addEventListener("click", () => startEdit(conversation, index, item));
      actions.append(edit);
    } else {
      const copy = button("Copy", "small ghost");
      copy.addEventListener("click", () => copyText(message.content));
      const again = button("Regenerate", "small ghost");
      again.addEventListener("click", () => regenerate(conversation, index));
      actions.append(copy, again);
    }
    item.append(actions);
    return item;
  }

  // The parts of a message element that change while it streams.
  function fillMessage(item, message) {
    const content = item.querySelector(".content");
    if (message.role === "user") content.textContent = message.content;
    else renderMarkdown(message.content, content);
    item.dataset.status = message.status || "done";
    item.querySelector(".flag")?.remove();
    item.querySelector(".error")?.remove();
    item.querySelector(".meta")?.remove();
    // A cut answer is marked even when nothing of it had been shown yet (a browser may drop
    // what it received but the page had not read when the connection failed).
    const label =
      message.content || message.status === "cut" ? STATUS_LABELS[message.status] : undefined;
    if (message.notice && message.status === "streaming") {
      content.after(el("span", "flag flag-resuming", message.notice));
    } else if (label) {
      content.after(el("span", `flag flag-${message.status}`, label));
    }
    let anchor = item.querySelector(".flag") || content;
    if (message.error) {
      const error = el("p", "error", message.error);
      anchor.after(error);
      anchor = error;
    }
    if (message.meta && message.status !== "streaming") {
      const text = formatMeta(message.meta);
      if (text) anchor.after(el("p", "meta", text));
    }
    if (message.status === "streaming") item.setAttribute("aria-busy", "true");
    else item.removeAttribute("aria-busy");
  }

  function renderConversation() {
    const conversation = current();
    ui.messages.replaceChildren();
    const messages = conversation ? conversation.messages : [];
    messages.forEach((_, index) => ui.messages.append(renderMessage(conversation, index)));
    ui.empty.hidden = messages.length > 0;
    ui.title.textContent = conversation ? conversation.title : "rillet playground";
    document.title = conversation ? `${conversation.title} · rillet playground` : "rillet playground";
    scrollToEnd(true);
  }

  function renderList() {
    ui.conversations.replaceChildren();
    const sorted = [...conversations].sort((a, b) => (b.updated || 0) - (a.updated || 0));
    for (const conversation of sorted) {
      const item = el("li", conversation.id === currentId ? "conv current" : "conv");
      const open = button(conversation.title, "conv-open");
      if (conversation.id === currentId) open.setAttribute("aria-current", "true");
      open.addEventListener("click", () => select(conversation.id));
      const rename = button("✎", "small ghost icon", `Rename “${conversation.title}”`);
      rename.addEventListener("click", () => startRename(conversation, item));
      const remove = button("✕", "small ghost icon", `Delete “${conversation.title}”`);
      remove.addEventListener("click", () => deleteConversation(conversation));
      item.append(open, rename, remove);
      ui.conversations.append(item);
    }
  }

  function render() {
    renderList();
    renderConversation();
  }

  function isNearEnd() {
    const box = ui.messages;
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  function scrollToEnd(force) {
    if (force || isNearEnd()) ui.messages.scrollTop = ui.messages.scrollHeight;
  }

  let frame = 0;
  function scheduleUpdate() {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      updateRunning();
    });
  }

  function updateRunning() {
    if (!running || running.conversation.id !== currentId) return;
    const index = running.conversation.messages.indexOf(running.message);
    const item = ui.messages.querySelector(`li[data-index="${index}"]`);
    if (!item) return;
    const follow = isNearEnd();
    fillMessage(item, running.message);
    if (follow) scrollToEnd(true);
  }

  // ---------------------------------------------------------------- conversations

  function select(id) {
    currentId = id;
    saveConversations();
    render();
    closeSidebarOnNarrow();
    ui.input.focus();
  }

  function startRename(conversation, item) {
    const input = el("input", "rename");
    input.value = conversation.title;
    input.setAttribute("aria-label", "Conversation name");
    item.replaceChildren(input);
    input.focus();
    input.select();
    let done = false;
    const finish = (keep) => {
      if (done) return;
      done = true;
      const name = input.value.trim();
      if (keep && name) {
        conversation.title = name;
        conversation.titled = true;
        saveConversations();
      }
      render();
      const again = [...ui.conversations.querySelectorAll(".conv-open")].find(
        (b) => b.textContent === conversation.title,
      );
      again?.focus();
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        finish(true);
      } else if (event.key === "Escape") {
        event.preventDefault();
        finish(false);
      }
    });
    input.addEventListener("blur", () => finish(true));
  }

  function deleteConversation(conversation) {
    if (running && running.conversation === conversation) running.controller.abort();
    conversations = conversations.filter((c) => c !== conversation);
    if (currentId === conversation.id) currentId = null;
    saveConversations();
    render();
    announce(`Deleted “${conversation.title}”.`);
    (ui.conversations.querySelector(".conv-open") || ui.newChat).focus();
  }

  function startEdit(conversation, index, item) {
    if (running) return;
    const message = conversation.messages[index];
    const box = el("div", "edit");
    const area = el("textarea");
    area.value = message.content;
    area.rows = Math.min(10, Math.max(2, message.content.split("\n").length));
    area.setAttribute("aria-label", "Edit message");
    const save = button("Save & send", "small");
    const cancel = button("Cancel", "small ghost");
    const buttons = el("div", "actions");
    buttons.append(save, cancel);
    box.append(area, buttons);
    item.querySelector(".content").replaceWith(box);
    item.querySelector(".actions:not(.edit .actions)")?.remove();
    area.focus();
    const submit = () => {
      const text = area.value.trim();
      if (!text) return;
      message.content = text;
      conversation.messages.splice(index + 1);
      generate(conversation);
    };
    save.addEventListener("click", submit);
    cancel.addEventListener("click", () => renderConversation());
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        submit();
      } else if (event.key === "Escape") {
        event.preventDefault();
        renderConversation();
      }
    });
  }

  function regenerate(conversation, index) {
    if (running) return;
    conversation.messages.splice(index);
    generate(conversation);
  }

  // ---------------------------------------------------------------- the API

  function headers() {
    const result = { "Content-Type": "application/json" };
    if (settings.api_key) result.Authorization = `Bearer ${settings.api_key}`;
    return result;
  }

  function numberSetting(value, integer) {
    if (value === "" || value === null || value === undefined) return undefined;
    const number = integer ? parseInt(value, 10) : Number(value);
    return Number.isFinite(number) ? number : undefined;
  }

  // The request for the next answer, and how its stream is reattached and cancelled
  // (docs/resume.md): a chat stream by the same POST with `Last-Event-ID`, a Responses
  // stream by `GET /v1/responses/{id}?stream=true&starting_after=N`. Responses are asked for
  // in the background, the one kind the server lets a client cancel, so Stop still stops.
  function requestFor(conversation) {
    const history = conversation.messages
      .filter((m) => (m.role === "user" || m.role === "assistant") && m.content)
      .map((m) => ({ role: m.role, content: m.content }));
    const model = settings.model.trim() || defaultModel || "default";
    const temperature = numberSetting(settings.temperature, false);
    const topP = numberSetting(settings.top_p, false);
    const maxTokens = numberSetting(settings.max_tokens, true);
    const system = settings.system.trim();
    if (settings.api === "responses") {
      const body = { model, input: history, stream: true, background: true };
      if (system) body.instructions = system;
      if (temperature !== undefined) body.temperature = temperature;
      if (topP !== undefined) body.top_p = topP;
      if (maxTokens !== undefined) body.max_output_tokens = maxTokens;
      const at = (id) => `/v1/responses/${encodeURIComponent(id)}`;
      return {
        body,
        read: readResponses,
        first: { url: "/v1/responses", method: "POST", body: JSON.stringify(body) },
        reattach: (cursor) => ({
          url: `${at(cursor.stream)}?stream=true&starting_after=${cursor.position}`,
          method: "GET",
        }),
        cancel: (id) => `${at(id)}/cancel`,
      };
    }
    const messages = system ? [{ role: "system", content: system }, ...history] : history;
    const body = { model, messages, stream: true, stream_options: { include_usage: true } };
    if (temperature !== undefined) body.temperature = temperature;
    if (topP !== undefined) body.top_p = topP;
    if (maxTokens !== undefined) body.max_tokens = maxTokens;
    const first = { url: "/v1/chat/completions", method: "POST", body: JSON.stringify(body) };
    return {
      body,
      read: readChat,
      first,
      reattach: (cursor) => ({ ...first, headers: { "Last-Event-ID": cursor.lastId } }),
      cancel: (id) => `/v1/chat/completions/${encodeURIComponent(id)}/cancel`,
    };
  }

  class StreamError extends Error {}

  // Server-sent events from a fetch() body, by the WHATWG rules (any line ending, comments,
  // multi-line data, `id` and `retry`); an event cut off by the end of the body is dropped.
  async function* events(response, cursor) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let data = [];
    let type = "";
    let id = null;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        for (;;) {
          const end = /\r\n|\r|\n/.exec(buffer);
          if (!end || (end[0] === "\r" && end.index === buffer.length - 1)) break;
          const line = buffer.slice(0, end.index);
          buffer = buffer.slice(end.index + end[0].length);
          if (line === "") {
            if (data.length) yield { type: type || "message", data: data.join("\n"), id };
            data = [];
            type = "";
            id = null;
            continue;
          }
          if (line[0] === ":") continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value[0] === " ") value = value.slice(1);
          if (field === "data") data.push(value);
          else if (field === "event") type = value;
          else if (field === "id" && !value.includes("\0")) id = value;
          else if (field === "retry" && /^\d+$/.test(value)) cursor.retry = Number(value);
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  // The events of a stream the page has not seen yet. Every event of a rillet stream has an
  // id `<stream>:<position>`; `cursor` keeps the last one, which is where a reattach starts,
  // and an event at or before it (replayed by a reattach) is dropped, so no text repeats.
  async function* unseen(response, cursor) {
    for await (const event of events(response, cursor)) {
      const split = event.id ? event.id.lastIndexOf(":") : -1;
      const position = split > 0 ? Number(event.id.slice(split + 1)) : NaN;
      if (Number.isInteger(position)) {
        const stream = event.id.slice(0, split);
        if (stream === cursor.stream && position <= cursor.position) continue;
        cursor.stream = stream;
        cursor.position = position;
        cursor.lastId = event.id;
      }
      yield event;
    }
  }

  async function readChat(response, onText, outcome, cursor) {
    for await (const event of unseen(response, cursor)) {
      if (event.data === "[DONE]") {
        outcome.complete = true;
        break;
      }
      const chunk = JSON.parse(event.data);
      if (chunk.error) throw new StreamError(chunk.error.message || "The server reported an error.");
      if (chunk.id) outcome.id = chunk.id;
      if (chunk.usage) outcome.tokens = chunk.usage.completion_tokens;
      const choice = (chunk.choices || [])[0];
      if (!choice) continue;
      if (choice.delta && choice.delta.content) onText(choice.delta.content);
      if (choice.finish_reason) outcome.finish = choice.finish_reason;
    }
    return outcome;
  }

  async function readResponses(response, onText, outcome, cursor) {
    for await (const event of unseen(response, cursor)) {
      const payload = JSON.parse(event.data);
      const type = payload.type || event.type;
      if (type === "response.created") {
        const created = payload.response || {};
        outcome.id = created.id;
        // A background response goes on without a reader: it can always be reattached.
        if (created.background === true) outcome.resumable = true;
      } else if (type === "response.output_text.delta") {
        if (payload.delta) onText(payload.delta);
      } else if (type === "response.completed" || type === "response.incomplete") {
        const result = payload.response || {};
        if (result.usage) outcome.tokens = result.usage.output_tokens;
        const reason = result.incomplete_details && result.incomplete_details.reason;
        outcome.finish = type === "response.completed" ? "stop" : reason === "max_output_tokens" ? "length" : reason || "incomplete";
        outcome.complete = true;
        break;
      } else if (type === "response.failed") {
        const error = (payload.response && payload.response.error) || {};
        throw new StreamError(error.message || "The response failed.");
      } else if (type === "error") {
        throw new StreamError(payload.message || (payload.error && payload.error.message) || "The server reported an error.");
      }
    }
    return outcome;
  }

  async function errorText(response) {
    let message = response.statusText || "request failed";
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) message = body.error.message;
    } catch {
      // not JSON: keep the status text
    }
    let text = `Error ${response.status}: ${message}`;
    if (response.status === 401) {
      text += " Enter the server's key under Settings → API key.";
      openSettings();
      ui.apiKey.focus();
    }
    return text;
  }

  function unreachable() {
    return `Could not reach the server at ${location.origin}. Is \`rillet serve\` still running?`;
  }

  const MAX_RESUMES = 3; // reattaches in a row that bring nothing new, then the answer is cut
  const RESUME_DELAY_MS = 250; // before the first reattach; doubled for each further one

  // Resolves after `ms`, or rejects as soon as `signal` aborts (Stop during a backoff).
  function pause(ms, signal) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, ms);
      signal.addEventListener(
        "abort",
        () => {
          clearTimeout(timer);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  // Stop on a resumable stream: the server would otherwise go on generating for a reader
  // that might come back, so tell it to stop. Best-effort, like closing the connection.
  function cancelOnServer(request, id) {
    fetch(request.cancel(id), { method: "POST", headers: headers(), keepalive: true, cache: "no-store" }).catch(
      () => {},
    );
  }

  async function generate(conversation) {
    if (running) return;
    const message = { role: "assistant", content: "", status: "streaming", meta: {} };
    conversation.messages.push(message);
    conversation.updated = Date.now();
    currentId = conversation.id;
    if (!conversations.includes(conversation)) conversations.push(conversation);
    saveConversations();
    const controller = new AbortController();
    running = { controller, conversation, message };
    setRunning(true);
    render();

    const request = requestFor(conversation);
    message.meta.api = settings.api;
    message.meta.model = request.body.model;
    const started = performance.now();
    let firstAt = null;
    let pieces = 0;
    // What the stream said so far: its id (a stopped answer keeps it too), how it finished,
    // whether it can be reattached (the server said so, or it is a background response).
    const outcome = { complete: false, finish: null, tokens: null, id: null, resumable: false };
    // Where the stream is: the last event's id, split into stream and position.
    const cursor = { stream: null, position: -1, lastId: null, retry: null };
    const onText = (text) => {
      if (firstAt === null) {
        firstAt = performance.now();
        message.meta.ttft_ms = firstAt - started;
      }
      pieces++;
      message.content += text;
      scheduleUpdate();
    };
    let target = request.first;
    let answered = false; // the server answered once: a later failure is a cut stream
    let tries = 0; // reattaches since the last one that brought an event
    try {
      for (;;) {
        const reattaching = target !== request.first; // else the first try, or a fresh one
        const before = cursor.position;
        let lost; // why this connection ended before the answer did
        try {
          const response = await fetch(target.url, {
            method: target.method,
            headers: { ...headers(), "X-Rillet-Resumable": "1", ...target.headers },
            body: target.body,
            signal: controller.signal,
            cache: "no-store",
          });
          answered = true;
          if (!response.ok) {
            message.status = reattaching ? "cut" : "error";
            message.error = reattaching
              ? `The connection to the server was lost and the answer could not be resumed (${await errorText(response)}). The part that arrived is kept.`
              : await errorText(response);
            break;
          }
          if (reattaching) {
            message.meta.resumes = (message.meta.resumes || 0) + 1;
            message.notice = "";
          } else if (!defaultModel) {
            fetchModels(); // the server is back, or the key is right now
          }
          if (response.headers.get("X-Rillet-Resumable") === "1") outcome.resumable = true;
          await request.read(response, onText, outcome, cursor);
          if (outcome.complete) {
            message.status = "done";
            break;
          }
          lost = "the stream ended before its last event";
        } catch (error) {
          if (controller.signal.aborted || error instanceof StreamError) throw error;
          if (!answered) {
            message.status = "error";
            message.error = unreachable();
            break;
          }
          lost = error.message;
        }
        if (cursor.position > before) tries = 0;
        if (!outcome.resumable || tries >= MAX_RESUMES) {
          message.status = "cut";
          message.error = outcome.resumable
            ? `The connection to the server was lost before the answer was complete (${lost}), and ${MAX_RESUMES} tries to resume it failed. The part that arrived is kept.`
            : `The connection to the server was lost before the answer was complete (${lost}). The part that arrived is kept.`;
          break;
        }
        tries++;
        message.notice = `Connection lost: resuming (try ${tries} of ${MAX_RESUMES})…`;
        announce(message.notice);
        scheduleUpdate();
        await pause((cursor.retry ?? RESUME_DELAY_MS) * 2 ** (tries - 1), controller.signal);
        // Cut before its first event, the stream's id is unknown: ask again from the start
        // (nothing was shown, so nothing can repeat).
        target = cursor.stream === null ? request.first : request.reattach(cursor);
      }
    } catch (error) {
      if (controller.signal.aborted) {
        message.status = "stopped";
        message.meta.finish = "stopped";
        if (outcome.resumable && outcome.id) cancelOnServer(request, outcome.id);
      } else if (error instanceof StreamError) {
        message.status = "error";
        message.error = `The server reported an error mid-stream: ${error.message} The part that arrived is kept.`;
      } else {
        message.status = "error";
        message.error = `The page failed: ${error.message}`;
      }
    } finally {
      const ended = performance.now();
      delete message.notice;
      if (message.status !== "stopped") message.meta.finish = outcome.finish;
      if (outcome.tokens !== null && outcome.tokens !== undefined) pieces = outcome.tokens;
      if (outcome.id) message.meta.id = outcome.id;
      if (message.content || message.status === "done") {
        message.meta.tokens = pieces;
        if (firstAt !== null && ended - firstAt >= 1 && pieces > 1) {
          message.meta.tokens_per_second = ((pieces - 1) * 1000) / (ended - firstAt);
        }
      }
      conversation.updated = Date.now();
      running = null;
      saveConversations();
      setRunning(false);
      if (frame) cancelAnimationFrame(frame);
      frame = 0;
      if (conversation.id === currentId) renderConversation();
      renderList();
      announce(
        message.status === "done"
          ? message.meta.resumes
            ? "Answer complete (resumed after the connection was lost)."
            : "Answer complete."
          : message.status === "stopped"
            ? "Stopped."
            : message.error,
      );
    }
  }

  function setRunning(on) {
    const stopHadFocus = document.activeElement === ui.stop;
    const sendHadFocus = document.activeElement === ui.send;
    ui.send.hidden = on;
    ui.stop.hidden = !on;
    if (on && sendHadFocus) ui.stop.focus();
    if (!on && stopHadFocus) ui.input.focus();
  }

  async function fetchModels() {
    try {
      const response = await fetch("/v1/models", { headers: headers(), cache: "no-store" });
      if (response.status === 401) {
        showNotice(
          settings.api_key
            ? "The server refused this API key (401): check Settings → API key."
            : "This server requires an API key: enter it under Settings → API key.",
        );
        openSettings();
        return;
      }
      if (!response.ok) {
        showNotice(await errorText(response));
        return;
      }
      const body = await response.json();
      const ids = (body.data || []).map((m) => m.id).filter((id) => typeof id === "string");
      defaultModel = ids[0] || "";
      ui.models.replaceChildren(...ids.map((id) => Object.assign(el("option"), { value: id })));
      ui.model.placeholder = defaultModel ? `${defaultModel} (default)` : "model name";
      showNotice("");
    } catch {
      showNotice(unreachable());
    }
  }

  // ---------------------------------------------------------------- settings

  const FIELDS = [
    [ui.api, "api"],
    [ui.model, "model"],
    [ui.system, "system"],
    [ui.temperature, "temperature"],
    [ui.topP, "top_p"],
    [ui.maxTokens, "max_tokens"],
    [ui.apiKey, "api_key"],
  ];

  function openSettings() {
    ui.settings.open = true;
    ui.layout.classList.add("sidebar-open");
    ui.toggleSidebar.setAttribute("aria-expanded", "true");
  }

  function closeSidebarOnNarrow() {
    if (window.matchMedia("(max-width: 760px)").matches) {
      ui.layout.classList.remove("sidebar-open");
      ui.toggleSidebar.setAttribute("aria-expanded", "false");
    }
  }

  for (const [field, key] of FIELDS) {
    field.value = settings[key];
    if (key === "api" && !field.value) field.value = "chat";
    const update = () => {
      settings[key] = field.value;
      store("settings", settings);
    };
    field.addEventListener("input", update);
    field.addEventListener("change", update);
  }
  ui.apiKey.addEventListener("change", fetchModels);
  ui.settingsForm.addEventListener("submit", (event) => event.preventDefault());

  // ---------------------------------------------------------------- the composer

  function submitMessage() {
    const text = ui.input.value;
    if (!text.trim() || running) return;
    let conversation = current();
    if (!conversation) {
      conversation = { id: newId(), title: "New chat", titled: false, updated: Date.now(), messages: [] };
    }
    conversation.messages.push({ role: "user", content: text });
    if (!conversation.titled) conversation.title = titleFrom(text);
    ui.input.value = "";
    generate(conversation);
  }

  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    submitMessage();
  });
  ui.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submitMessage();
    } else if (event.key === "Escape" && running) {
      event.preventDefault();
      running.controller.abort();
    }
  });
  ui.stop.addEventListener("click", () => running && running.controller.abort());
  ui.newChat.addEventListener("click", () => {
    currentId = null;
    saveConversations();
    render();
    closeSidebarOnNarrow();
    ui.input.focus();
  });
  ui.toggleSidebar.addEventListener("click", () => {
    const open = ui.layout.classList.toggle("sidebar-open");
    ui.toggleSidebar.setAttribute("aria-expanded", String(open));
  });
  window.addEventListener("pagehide", saveConversations);
  window.addEventListener("storage", (event) => {
    // Another tab changed the chats: follow it unless this one is busy.
    if (running || event.key !== `${STORE}conversations`) return;
    conversations = load("conversations", []);
    render();
  });

  render();
  fetchModels();
})();
