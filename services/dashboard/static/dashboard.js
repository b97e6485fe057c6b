// Refreshes each panel of the server-rendered page from its JSON API. Data goes in through
// textContent only, never as HTML.
"use strict";

(function () {
  const refreshMs = Number(document.body.dataset.refreshMs) || 5000;

  function cell(value) {
    if (value === null || value === undefined || value === "") return "\u2014";
    if (typeof value === "boolean") return value ? "yes" : "no";
    if (typeof value === "number") return Number.isInteger(value) ? String(value) : value.toFixed(2);
    if (Array.isArray(value)) return String(value.length);
    if (typeof value === "object") return String(Object.keys(value).length);
    return String(value);
  }

  function render(table, rows) {
    const fields = Array.from(table.tHead.rows[0].cells, (th) => th.dataset.field);
    const body = document.createElement("tbody");
    for (const row of rows) {
      const tr = body.insertRow();
      for (const field of fields) {
        const td = tr.insertCell();
        td.dataset.field = field;
        td.dataset.value = row[field] === null || row[field] === undefined ? "None" : String(row[field]);
        td.textContent = cell(row[field]);
      }
    }
    if (!rows.length) {
      const td = body.insertRow().insertCell();
      td.colSpan = fields.length;
      td.textContent = "none";
      td.parentElement.className = "empty";
    }
    table.replaceChild(body, table.tBodies[0]);
  }

  async function refresh(section) {
    const status = section.querySelector(".status");
    try {
      const response = await fetch(section.dataset.source, {
        credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" },
      });
      const data = await response.json();
      if (!response.ok) throw new Error(data.error || "HTTP " + response.status);
      for (const table of section.querySelectorAll("table[data-rows]")) {
        render(table, data[table.dataset.rows] || []);
      }
      status.textContent = "as of " + (data.generated_at || new Date().toISOString());
      status.classList.remove("error");
    } catch (error) {
      status.textContent = "unavailable: " + error.message;
      status.classList.add("error");
    }
  }

  // Each panel asks again only once its last answer came (a slow source never piles up requests),
  // and not while the tab is hidden.
  function keepFresh(section) {
    setTimeout(async () => {
      if (!document.hidden) await refresh(section);
      keepFresh(section);
    }, refreshMs);
  }

  for (const section of document.querySelectorAll("section[data-source]")) keepFresh(section);
})();
