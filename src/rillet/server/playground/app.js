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
  const BULLET = /^(\s*)[-*+]\s+(.*)$/;
  const NUMBERED = /^(\s*)(\d{1,9})[.)]\s+(.*)$/;
  const QUOTE = /^ {0,3}>\s?(.*)$/;

  // Block-level Markdown of `text` appended to `container`: paragraphs, headings, fenced code
  // (closed or still streaming), lists, quotes and rules.
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
      const bullet = BULLET.exec(line);
      const numbered = NUMBERED.exec(line);
      if (bullet || numbered) {
        flush();
        const pattern = bullet ? BULLET : NUMBERED;
        const list = el(bullet ? "ul" : "ol");
        if (numbered && numbered[2] !== "1") list.start = Number(numbered[2]);
        let item = null;
        while (i < lines.length) {
          const match = pattern.exec(lines[i]);
          if (match) {
            item = el("li");
            inline(match[match.length - 1], item, depth);
            list.append(item);
          } else if (item && /^\s+\S/.test(lines[i])) {
            item.append(el("br"));
            inline(lines[i].trim(), item, depth);
          } else {
            break;
          }
          i++;
        }
        container.append(list);
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
    const label = message.content ? STATUS_LABELS[message.status] : undefined;
    if (label) {
      const flag = el("span", `flag flag-${message.status}`, label);
      content.after(flag);
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
      const body = { model, input: history, stream: true };
      if (system) body.instructions = system;
      if (temperature !== undefined) body.temperature = temperature;
      if (topP !== undefined) body.top_p = topP;
      if (maxTokens !== undefined) body.max_output_tokens = maxTokens;
      return { url: "/v1/responses", body, read: readResponses };
    }
    const messages = system ? [{ role: "system", content: system }, ...history] : history;
    const body = { model, messages, stream: true, stream_options: { include_usage: true } };
    if (temperature !== undefined) body.temperature = temperature;
    if (topP !== undefined) body.top_p = topP;
    if (maxTokens !== undefined) body.max_tokens = maxTokens;
    return { url: "/v1/chat/completions", body, read: readChat };
  }

  class StreamError extends Error {}

  // Server-sent events from a fetch() body, by the WHATWG rules (any line ending, comments,
  // multi-line data); an event cut off by the end of the body is dropped.
  async function* events(response) {
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let data = [];
    let type = "";
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
            if (data.length) yield { type: type || "message", data: data.join("\n") };
            data = [];
            type = "";
            continue;
          }
          if (line[0] === ":") continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value[0] === " ") value = value.slice(1);
          if (field === "data") data.push(value);
          else if (field === "event") type = value;
        }
      }
    } finally {
      reader.cancel().catch(() => {});
    }
  }

  async function readChat(response, onText, outcome) {
    for await (const event of events(response)) {
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

  async function readResponses(response, onText, outcome) {
    for await (const event of events(response)) {
      const payload = JSON.parse(event.data);
      const type = payload.type || event.type;
      if (type === "response.created") {
        outcome.id = payload.response && payload.response.id;
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
    let answered = false; // the server sent its headers: later failures are a cut stream
    // What the stream said so far: its id (a stopped answer keeps it too), how it finished.
    const outcome = { complete: false, finish: null, tokens: null, id: null };
    const onText = (text) => {
      if (firstAt === null) {
        firstAt = performance.now();
        message.meta.ttft_ms = firstAt - started;
      }
      pieces++;
      message.content += text;
      scheduleUpdate();
    };
    try {
      const response = await fetch(request.url, {
        method: "POST",
        headers: headers(),
        body: JSON.stringify(request.body),
        signal: controller.signal,
        cache: "no-store",
      });
      answered = true;
      if (!response.ok) {
        message.status = "error";
        message.error = await errorText(response);
      } else {
        if (!defaultModel) fetchModels(); // the server is back, or the key is right now
        await request.read(response, onText, outcome);
        message.meta.finish = outcome.finish;
        if (outcome.tokens !== null && outcome.tokens !== undefined) pieces = outcome.tokens;
        if (outcome.complete) {
          message.status = "done";
        } else {
          message.status = "cut";
          message.error = "The stream ended before the answer was complete: the part that arrived is kept.";
        }
      }
    } catch (error) {
      if (controller.signal.aborted) {
        message.status = "stopped";
        message.meta.finish = "stopped";
      } else if (error instanceof StreamError) {
        message.status = "error";
        message.error = `The server reported an error mid-stream: ${error.message} The part that arrived is kept.`;
      } else if (!answered) {
        message.status = "error";
        message.error = unreachable();
      } else {
        message.status = "cut";
        message.error = `The connection to the server was lost before the answer was complete (${error.message}). The part that arrived is kept.`;
      }
    } finally {
      const ended = performance.now();
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
          ? "Answer complete."
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
