/* tocsin operator dashboard.
 *
 * One state model (S) fed by: the /v1/state snapshot (on load and after every
 * reconnect of the event stream), live /v1/events, or in replay mode /v1/replay
 * played through a time slider. Rendering is batched: applying a message only
 * marks what changed; one requestAnimationFrame redraws it. Every text that comes
 * from a message goes into the page through textContent, never as HTML.
 */
"use strict";
(function () {
  // ------------------------------------------------------------ constants
  const WGS84_A = 6378137.0;
  const WGS84_F = 1 / 298.257223563;
  const WGS84_B = WGS84_A * (1 - WGS84_F);
  const E2 = WGS84_F * (2 - WGS84_F);
  const EP2 = (WGS84_A * WGS84_A - WGS84_B * WGS84_B) / (WGS84_B * WGS84_B);
  const TRAIL_MAX = 60;          // points kept per track trail
  const TIMELINE_MAX = 300;      // events kept in the timeline
  const TABLE_MAX = 200;         // track rows drawn
  const ALERTS_MAX = 30;         // alert cards drawn
  const CLASS_COLOUR = { ballistic: "#ffd60a", air: "#64d2ff", unknown: "#bf8cff" };
  const WARN_FILL = "#ff3b30";      // warned land: solid red
  const WARN_SEA = "#ff6b61";       // warned sea: dashed red outline, light fill
  const CLEAR_LINE = "#2ea043";
  const LANGS = ["ja", "ko", "en"];

  // ------------------------------------------------------------ state
  const S = {
    config: null,
    tracks: new Map(),     // id -> track record
    alerts: new Map(),     // id -> alert body (+ partner)
    active: new Map(),     // id -> alert body: Alert/Update not yet replaced or cancelled
    cleared: new Map(),    // area code -> time of the last Cancel naming it
    sensors: new Map(),    // id -> sensor body
    links: new Map(),      // partner -> {silent, last_seen}
    events: [],            // timeline, oldest first
    now: 0,                // data time shown (latest message, or the replay slider)
    session: null,         // {name, role, csrf}
    areaSelect: new Set(), // areas clicked into the manual form
    areaInfo: new Map(),   // area code -> {kind, en, ja, ko} (from /v1/areas.geojson)
    lang: pageLang(),      // language of area names on the page (ja / ko / en)
    fitted: new Set(),     // tracks whose predicted impact the view was fitted to
    userView: false,       // the operator moved the map: no more automatic fitting
  };

  /** The page language: a stored choice, else the browser's (ja / ko), else en. */
  function pageLang() {
    let stored = null;
    try { stored = window.localStorage.getItem("tocsin.lang"); } catch (e) { stored = null; }
    if (LANGS.includes(stored)) return stored;
    const nav = (navigator.language || "en").slice(0, 2).toLowerCase();
    return LANGS.includes(nav) ? nav : "en";
  }
  const dirty = { tracks: new Set(), allTracks: false, alerts: false, areas: false, sensors: false,
                  links: false, timeline: false, table: false };
  let frame = 0;
  let lastPanels = -1e9;
  const PANEL_HZ = 5;

  // ------------------------------------------------------------ geodesy
  /** ECEF (m) -> [lat, lon, h] in degrees / metres (Bowring 1976, one iteration is
   *  well under a metre at the heights shown here). */
  function ecefToGeodetic(x, y, z) {
    const p = Math.hypot(x, y);
    const th = Math.atan2(z * WGS84_A, p * WGS84_B);
    const st = Math.sin(th), ct = Math.cos(th);
    const lat = Math.atan2(z + EP2 * WGS84_B * st * st * st, p - E2 * WGS84_A * ct * ct * ct);
    const lon = Math.atan2(y, x);
    const sl = Math.sin(lat);
    const N = WGS84_A / Math.sqrt(1 - E2 * sl * sl);
    const h = Math.abs(Math.cos(lat)) > 1e-9 ? p / Math.cos(lat) - N : Math.abs(z) - WGS84_B;
    return [lat * 180 / Math.PI, lon * 180 / Math.PI, h];
  }

  /** An ellipse as a lat/lon ring: semi-axes in metres, major axis bearing in
   *  degrees clockwise from north (local flat approximation, fine for < 500 km). */
  function ellipseRing(lat, lon, a, b, bearingDeg, n) {
    const pts = [];
    const beta = bearingDeg * Math.PI / 180;
    const phi = lat * Math.PI / 180;
    const m = 111132.954 - 559.822 * Math.cos(2 * phi) + 1.175 * Math.cos(4 * phi); // m per degree lat
    const p = (Math.PI / 180) * WGS84_A * Math.cos(phi) / Math.sqrt(1 - E2 * Math.sin(phi) ** 2);
    for (let i = 0; i < n; i++) {
      const t = 2 * Math.PI * i / n;
      const u = a * Math.cos(t), v = b * Math.sin(t);
      const north = u * Math.cos(beta) - v * Math.sin(beta);
      const east = u * Math.sin(beta) + v * Math.cos(beta);
      pts.push([lat + north / m, lon + east / Math.max(p, 1)]);
    }
    return pts;
  }

  // ------------------------------------------------------------ formatting
  function utc(t) {
    if (!isFinite(t) || t <= 0) return "--:--:--";
    return new Date(t * 1000).toISOString().slice(11, 19);
  }
  function mmss(s) {
    if (!isFinite(s)) return "";
    const neg = s < 0; s = Math.abs(Math.round(s));
    return (neg ? "-" : "") + Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }
  /** Leaflet puts tooltip strings in as HTML: everything from a message goes
   *  through here first (ids and names are partner-supplied). */
  function esc(v) {
    return String(v).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  function el(tag, attrs, text) {
    const e = document.createElement(tag);
    if (attrs) for (const [k, v] of Object.entries(attrs)) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") e.className = v; else e.setAttribute(k, v === true ? "" : String(v));
    }
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  // ------------------------------------------------------------ model
  function note(t, kind, text) {
    S.events.push({ t, kind, text });
    if (S.events.length > TIMELINE_MAX * 2) S.events.splice(0, S.events.length - TIMELINE_MAX);
    dirty.timeline = true;
  }

  function resetModel() {
    S.tracks.clear(); S.alerts.clear(); S.active.clear(); S.cleared.clear(); S.sensors.clear();
    if (S.config && S.config.replay) { S.links.clear(); dirty.links = true; }
    S.events = []; S.now = 0;
    dirty.allTracks = true; dirty.alerts = true; dirty.areas = true; dirty.sensors = true;
    dirty.timeline = true; dirty.table = true;
  }

  function messageTime(m) {
    const b = m.body || {};
    return typeof b.t === "number" ? b.t : (typeof m.sent === "number" ? m.sent : 0);
  }

  function applyTrack(b, trail) {
    const id = b.id;
    const prev = S.tracks.get(id);
    if (b.status === "deleted") {
      if (prev) { S.tracks.delete(id); note(b.t, "track", "track " + id + " dropped"); }
      dirty.tracks.add(id); dirty.table = true;
      return;
    }
    const st = b.state_ecef;
    if (!Array.isArray(st) || st.length < 3) return;
    const [lat, lon, alt] = ecefToGeodetic(st[0], st[1], st[2]);
    const speed = st.length >= 6 ? Math.hypot(st[3], st[4], st[5]) : NaN;
    const rec = prev || { id, trail: [] };
    if (trail) rec.trail = trail.map((p) => [p[0], p[1]]);
    const last = rec.trail[rec.trail.length - 1];
    if (!last || last[0] !== lat || last[1] !== lon) rec.trail.push([lat, lon]);
    if (rec.trail.length > TRAIL_MAX) rec.trail.splice(0, rec.trail.length - TRAIL_MAX);
    const cls = b["class"] || "unknown";
    if (!prev) note(b.t, "track", "new track " + id + " (" + cls + ", " + (b.sources || []).join(" ") + ")");
    else if (prev.cls !== cls) note(b.t, "track", "track " + id + " classified " + cls);
    if (b.impact && (!prev || !prev.impact)) {
      note(b.t, "track", "track " + id + ": impact predicted " + b.impact.lat.toFixed(2) + ", "
        + b.impact.lon.toFixed(2) + " at " + utc(b.impact.t) + " UTC");
    }
    Object.assign(rec, { t: b.t, lat, lon, alt, speed, cls, status: b.status, sources: b.sources || [],
      partners: b.partners || [], launch: b.launch || null, impact: b.impact || null, path: b.path || null });
    S.tracks.set(id, rec);
    dirty.tracks.add(id); dirty.table = true;
  }

  function applyAlert(b) {
    S.alerts.set(b.id, b);
    const refs = b.references || [];
    if (b.msg_type === "Cancel") {
      // a Cancel that names no area clears the areas of what it cancels
      const areas = (b.areas && b.areas.length) ? b.areas
        : refs.flatMap((r) => (S.active.get(r) || S.alerts.get(r) || {}).areas || []);
      for (const r of refs) S.active.delete(r);
      for (const a of areas) S.cleared.set(a, b.t);
    } else {
      if (b.msg_type === "Update") for (const r of refs) S.active.delete(r);
      S.active.set(b.id, b);
      for (const a of b.areas || []) S.cleared.delete(a);
    }
    note(b.t, "alert", b.msg_type.toUpperCase() + " " + b.id + " (" + b.status + "): "
      + (b.areas || []).map((c) => areaName(c)).join(", "));
    dirty.alerts = true; dirty.areas = true;
  }

  function apply(m, trail) {
    const t = messageTime(m);
    if (m.kind !== "sensor" && t > S.now) S.now = t;
    switch (m.kind) {
      case "track": applyTrack(m.body, trail); break;
      case "alert": applyAlert(m.body); break;
      case "sensor": S.sensors.set(m.body.id, m.body); dirty.sensors = true; break;
      case "link": {
        const b = m.body, was = S.links.get(b.partner);
        S.links.set(b.partner, { silent: b.silent, last_seen: b.last_seen });
        if (!was || was.silent !== b.silent) note(t, "link", "link " + b.partner + (b.silent ? " SILENT" : " up"));
        dirty.links = true;
        break;
      }
      case "operator": note(t, "operator", (m.body.operator || "?") + ": " + m.body.event
        + (m.body.id ? " " + m.body.id : "")); break;
      default: break;
    }
  }

  /** Active alerts at the current time (an alert past its `expires` is over). */
  function activeAlerts() {
    return [...S.active.values()].filter((b) => !(typeof b.expires === "number" && b.expires < S.now));
  }

  function areaStates() {
    const st = new Map();
    for (const code of S.cleared.keys()) st.set(code, "clear");
    for (const b of activeAlerts()) for (const a of b.areas || []) st.set(a, "warn");
    return st;
  }

  /** An area's name in the page language (the code until the areas are loaded). */
  function areaName(code, lang) {
    const a = S.areaInfo.get(code);
    if (!a) return code;
    return a[lang || S.lang] || a.en || code;
  }

  function schedule() {
    document.body.dataset.settled = "0";
    if (!frame) frame = requestAnimationFrame(render);
  }

  // ------------------------------------------------------------ map
  const map = L.map("map", { preferCanvas: true, attributionControl: false, worldCopyJump: false,
    zoomSnap: 0.25, minZoom: 3, maxZoom: 11 }).setView([37.5, 134], 5);
  // separate canvases: a moving track must not make the (detailed, static) area
  // polygons redraw
  let programmaticMove = false;
  map.on("movestart zoomstart", () => { if (!programmaticMove && frameUser) S.userView = true; });
  // only moves the operator starts count (mouse, wheel, touch, keys on the map)
  let frameUser = false;
  for (const ev of ["mousedown", "wheel", "touchstart", "keydown"]) {
    map.getContainer().addEventListener(ev, () => { frameUser = true; }, { passive: true });
  }
  const fitControl = L.control({ position: "topleft" });
  fitControl.onAdd = function () {
    const btn = el("button", { type: "button", class: "fit-button", id: "fit-button",
      title: "fit the view to the predicted impacts" }, "⤢ impact");
    btn.addEventListener("click", (e) => { e.stopPropagation(); S.userView = false; fitImpacts(null); });
    return btn;
  };
  fitControl.addTo(map);
  const baseRenderer = L.canvas({ padding: 0.3 });
  const renderer = L.canvas({ padding: 0.3 });
  const layers = {
    grid: L.layerGroup().addTo(map),
    areas: null,
    sensors: L.layerGroup().addTo(map),
    tracks: L.layerGroup().addTo(map),
  };
  for (let lat = 15; lat <= 60; lat += 5)
    L.polyline([[lat, 100], [lat, 180]], { color: "#1d3a52", weight: 1, interactive: false, renderer: baseRenderer }).addTo(layers.grid);
  for (let lon = 100; lon <= 180; lon += 5)
    L.polyline([[15, lon], [60, lon]], { color: "#1d3a52", weight: 1, interactive: false, renderer: baseRenderer }).addTo(layers.grid);
  const legend = L.control({ position: "bottomleft" });
  legend.onAdd = function () {
    const d = el("div", { class: "legend" });
    for (const [k, c] of Object.entries(CLASS_COLOUR)) {
      const row = el("div"); const i = el("i"); i.style.background = c; row.append(i, k); d.append(row);
    }
    const w = el("div"); const i = el("i", { class: "warn-land" }); w.append(i, "land warned"); d.append(w);
    const s_ = el("div"); const k_ = el("i", { class: "warn-sea" }); s_.append(k_, "sea warned"); d.append(s_);
    const c = el("div"); const j = el("i"); j.style.background = CLEAR_LINE; c.append(j, "all clear"); d.append(c);
    return d;
  };
  legend.addTo(map);
  const trackLayers = new Map(); // id -> {group, trail, dot, launch, ellipse, path}

  function areaStyle(feature, states) {
    const p = feature.properties;
    const st = (states || areaStates()).get(p.code);
    const sea = p.kind === "sea";
    const selected = S.areaSelect.has(p.code);
    // warned land: solid red fill; warned sea: dashed red outline over a light
    // red wash (mariners' warning, not the residents')
    if (st === "warn" && !selected) {
      return sea
        ? { color: WARN_SEA, weight: 2, dashArray: "8 5", fillColor: WARN_FILL, fillOpacity: 0.18 }
        : { color: "#ffb3ad", weight: 1.5, dashArray: null, fillColor: WARN_FILL, fillOpacity: 0.65 };
    }
    return {
      color: selected ? "#58a6ff" : st === "clear" ? CLEAR_LINE : sea ? "#2f6f8f" : "#6b7f73",
      weight: selected ? 3 : st ? 2.5 : sea ? 1 : 0.8,
      dashArray: sea && !st ? "4 4" : null,
      fillColor: sea ? "#0e2233" : "#1f2a24",
      fillOpacity: sea ? 0.0 : 0.9,
    };
  }

  function loadAreas() {
    return fetch("/v1/areas.geojson").then((r) => r.json()).then((gj) => {
      // land under sea zones: draw sea zones first so land covers their coastlines
      gj.features.sort((a, b) => (a.properties.kind === "sea" ? 0 : 1) - (b.properties.kind === "sea" ? 0 : 1));
      layers.areas = L.geoJSON(gj, {
        renderer: baseRenderer,
        style: (f) => areaStyle(f),
        onEachFeature: (f, layer) => {
          const p = f.properties;
          S.areaInfo.set(p.code, { kind: p.kind, en: p.name_en || p.code, ja: p.name_ja || p.name_en || p.code,
            ko: p.name_ko || p.name_en || p.code });
          layer.bindTooltip(() => esc(areaName(p.code) + " (" + p.code + ")"
            + [p.name_ja, p.name_ko, p.name_en].filter((n) => n && n !== areaName(p.code)).map((n) => " / " + n).join("")),
          { sticky: true });
          layer.on("click", () => toggleArea(p.code));
        },
      }).addTo(map);
      layers.areas.bringToBack();
      document.body.dataset.areas = String(gj.features.length);
      dirty.alerts = true; schedule();  // cards name the areas now
    }).catch(() => { document.body.dataset.areas = "0"; });
  }

  function toggleArea(code) {
    if (!S.session) return;
    if (S.areaSelect.has(code)) S.areaSelect.delete(code); else S.areaSelect.add(code);
    document.getElementById("manual-areas").value = [...S.areaSelect].join(", ");
    dirty.areas = true; schedule();
  }

  function drawTrack(id) {
    let L_ = trackLayers.get(id);
    const rec = S.tracks.get(id);
    if (!rec) {
      if (L_) { layers.tracks.removeLayer(L_.group); trackLayers.delete(id); }
      return;
    }
    const colour = CLASS_COLOUR[rec.cls] || CLASS_COLOUR.unknown;
    if (!L_) {
      const group = L.layerGroup();
      L_ = {
        group,
        trail: L.polyline([], { color: colour, weight: 2, opacity: 0.85, renderer, interactive: false }).addTo(group),
        dot: L.circleMarker([rec.lat, rec.lon], { radius: 5, color: "#000", weight: 1, fillColor: colour,
          fillOpacity: 1, renderer }).addTo(group),
        path: L.polyline([], { color: colour, weight: 1.5, dashArray: "2 6", opacity: 0.9, renderer,
          interactive: false }).addTo(group),
        ellipse: L.polygon([], { color: "#ff9f0a", weight: 2, fillColor: "#ff9f0a", fillOpacity: 0.15, renderer,
          interactive: false }).addTo(group),
        // the predicted impact point, visible at any zoom (the ellipse may be metres across)
        impact: L.circleMarker([0, 0], { radius: 3, color: "#ff9f0a", weight: 2, fillColor: "#ff9f0a",
          fillOpacity: 1, renderer, opacity: 0, fill: false }).addTo(group),
        launch: null,
      };
      L_.dot.bindTooltip(esc(id), { permanent: false, className: "track-label" });
      L_.impact.bindTooltip("impact", { className: "track-label" });
      group.addTo(layers.tracks);
      trackLayers.set(id, L_);
    }
    if (L_.colour !== colour) {
      L_.colour = colour;
      L_.trail.setStyle({ color: colour }); L_.dot.setStyle({ fillColor: colour });
      L_.path.setStyle({ color: colour });
    }
    L_.trail.setLatLngs(rec.trail);
    L_.dot.setLatLng([rec.lat, rec.lon]);
    L_.dot.setTooltipContent(esc(id + " " + rec.cls + " " + Math.round(rec.alt / 1000) + " km"
      + (isFinite(rec.speed) ? " " + (rec.speed / 1000).toFixed(1) + " km/s" : "")));
    const imp = rec.impact;
    const key = JSON.stringify([imp, rec.path ? rec.path.length : 0, rec.path ? rec.path[0] : null]);
    if (key === L_.predKey) { drawLaunch(L_, rec, colour); return; }
    L_.predKey = key;
    L_.path.setLatLngs(rec.path ? rec.path.map((p) => [p[0], p[1]]) : []);
    if (imp) {
      L_.impact.setLatLng([imp.lat, imp.lon]);
      L_.impact.setStyle({ opacity: 1, fill: true });
      L_.impact.setTooltipContent(esc("impact of " + rec.id + " " + utc(imp.t) + " UTC"
        + (imp.ellipse ? " ±" + (imp.ellipse.semi_major_m / 1000).toFixed(1) + " km" : "")));
    } else {
      L_.impact.setStyle({ opacity: 0, fill: false });
    }
    if (imp && imp.ellipse) {
      L_.ellipse.setLatLngs(ellipseRing(imp.lat, imp.lon, Math.max(imp.ellipse.semi_major_m, 500),
        Math.max(imp.ellipse.semi_minor_m, 500), imp.ellipse.bearing_deg, 48));
    } else if (imp) {
      L_.ellipse.setLatLngs(ellipseRing(imp.lat, imp.lon, 2000, 2000, 0, 24));
    } else {
      L_.ellipse.setLatLngs([]);
    }
    drawLaunch(L_, rec, colour);
    if (imp && rec.cls === "ballistic" && !S.fitted.has(id)) fitImpacts(id);
  }

  /** Fit the view to the ballistic tracks with a predicted impact: each one's
   *  position, launch point and impact ellipse. Done once per new track, and
   *  never after the operator has moved the map (the "fit" button does it again). */
  function fitImpacts(newId) {
    if (newId) S.fitted.add(newId);
    if (S.userView && newId) return;
    let b = null;
    for (const [id, L_] of trackLayers) {
      const rec = S.tracks.get(id);
      if (!rec || rec.cls !== "ballistic" || !rec.impact) continue;
      const pts = [[rec.lat, rec.lon], [rec.impact.lat, rec.impact.lon]];
      if (rec.launch) pts.push([rec.launch.lat, rec.launch.lon]);
      const eb = L_.ellipse.getLatLngs().length ? L_.ellipse.getBounds() : null;
      const tb = L.latLngBounds(pts);
      if (eb) tb.extend(eb);
      b = b ? b.extend(tb) : tb;
    }
    if (!b) return;
    programmaticMove = true;
    map.fitBounds(b, { padding: [40, 40], maxZoom: 8, animate: false });
    programmaticMove = false;
    document.body.dataset.fitted = [...S.fitted].sort().join(",");
  }

  function drawLaunch(L_, rec, colour) {
    const id = rec.id;
    if (rec.launch) {
      if (!L_.launch) {
        L_.launch = L.circleMarker([rec.launch.lat, rec.launch.lon], { radius: 6, color: colour, weight: 2,
          fill: false, renderer }).addTo(L_.group);
        L_.launch.bindTooltip(esc("launch of " + id), { className: "track-label" });
      } else {
        L_.launch.setLatLng([rec.launch.lat, rec.launch.lon]);
      }
    }
  }

  function drawSensors() {
    layers.sensors.clearLayers();
    for (const s of S.sensors.values()) {
      if (typeof s.lat !== "number" || typeof s.lon !== "number") continue;
      if (s.max_range_m) {
        L.circle([s.lat, s.lon], { radius: s.max_range_m, color: "#3fb950", weight: 1, opacity: 0.5,
          dashArray: "3 5", fill: true, fillOpacity: 0.03, renderer, interactive: false }).addTo(layers.sensors);
      }
      L.circleMarker([s.lat, s.lon], { radius: 4, color: "#3fb950", weight: 2, fillColor: "#0b1620",
        fillOpacity: 1, renderer }).bindTooltip(esc(s.id + " (" + s.type + ", " + s.platform + ")"
        + (s.max_range_m ? " " + Math.round(s.max_range_m / 1000) + " km" : "")), { className: "track-label" })
        .addTo(layers.sensors);
    }
  }

  // ------------------------------------------------------------ panels
  const capCache = new Map(); // CAP text -> parsed info blocks (alerts do not change)
  function capInfos(xml) {
    if (!xml) return [];
    let infos = capCache.get(xml);
    if (!infos) {
      infos = parseCap(xml);
      if (capCache.size > 2000) capCache.clear();
      capCache.set(xml, infos);
    }
    return infos;
  }

  function parseCap(xml) {
    const doc = new DOMParser().parseFromString(xml, "application/xml");
    if (doc.getElementsByTagName("parsererror").length) return [];
    const first = (node, name) => {
      const x = node.getElementsByTagNameNS("*", name)[0];
      return x ? x.textContent.trim() : "";
    };
    return [...doc.getElementsByTagNameNS("*", "info")].map((i) => ({
      lang: first(i, "language") || "en-US",
      event: first(i, "event"),
      headline: first(i, "headline"),
      description: first(i, "description"),
      instruction: first(i, "instruction"),
      areas: [...i.getElementsByTagNameNS("*", "areaDesc")].map((a) => a.textContent.trim()),
    }));
  }

  const langChoice = new Map(); // alert id -> chosen language

  /** The language a card shows: the operator's choice for it, else the page's. */
  function cardLang(b) {
    const chosen = langChoice.get(b.id);
    return chosen ? chosen.slice(0, 2) : S.lang;
  }

  /** The warned areas by name, land first, then sea (codes in the tooltip). */
  function areaList(codes, lang) {
    const box = el("div", { class: "alert-areas" });
    const land = codes.filter((c) => (S.areaInfo.get(c) || {}).kind !== "sea");
    const sea = codes.filter((c) => (S.areaInfo.get(c) || {}).kind === "sea");
    for (const [kind, list] of [["land", land], ["sea", sea]]) {
      if (!list.length) continue;
      const row = el("div", { class: "areas-" + kind, "data-kind": kind });
      row.append(el("span", { class: "areas-kind" }, kind === "land" ? "▮" : "≈"));
      list.forEach((c, i) => {
        row.append(el("span", { class: "area-name", "data-code": c, title: c }, areaName(c, lang)));
        if (i < list.length - 1) row.append(document.createTextNode(", "));
      });
      box.append(row);
    }
    return box;
  }

  function alertCard(b, cancelled) {
    const card = el("div", { class: "alert-card" + (cancelled ? " cancelled" : ""), "data-alert-id": b.id,
      "data-status": b.status, "data-msg-type": b.msg_type });
    const head = el("div", { class: "alert-head" });
    head.append(el("span", { class: "alert-type" }, b.msg_type.toUpperCase()),
      el("span", { class: "alert-status" + (b.status === "Actual" ? " actual" : "") }, b.status),
      el("span", { class: "muted" }, b.id + " · " + utc(b.t) + " UTC"));
    card.append(head, areaList(b.areas || [], cardLang(b)));
    if (b.tracks && b.tracks.length) card.append(el("div", { class: "muted" }, "tracks: " + b.tracks.join(", ")));
    const infos = capInfos(b.cap);
    if (infos.length) {
      const chosen = langChoice.get(b.id)
        || (infos.find((i) => i.lang.slice(0, 2) === S.lang) || infos[0]).lang;
      const bar = el("div", { class: "langs" });
      const blocks = [];
      for (const info of infos) {
        const short = info.lang.slice(0, 2);
        const btn = el("button", { type: "button", "data-lang": info.lang, "aria-pressed": String(info.lang === chosen) }, short);
        btn.addEventListener("click", () => { langChoice.set(b.id, info.lang); dirty.alerts = true; schedule(); });
        bar.append(btn);
        const blk = el("div", { class: "cap-info", lang: info.lang, "data-lang": info.lang, hidden: info.lang !== chosen });
        blk.append(el("div", { class: "headline" }, info.headline || info.event),
          el("div", null, info.description), el("div", { class: "muted" }, info.instruction));
        blocks.push(blk);
      }
      card.append(bar, ...blocks);
    } else if (b.cap) {
      card.append(el("div", { class: "muted" }, "(CAP document not readable)"));
    }
    return card;
  }

  function drawAlerts() {
    const box = document.getElementById("alerts");
    const act = activeAlerts().sort((a, b) => b.t - a.t);
    box.replaceChildren();
    for (const b of act.slice(0, ALERTS_MAX)) box.append(alertCard(b, false));
    if (act.length > ALERTS_MAX) box.append(el("p", { class: "muted" }, "and " + (act.length - ALERTS_MAX) + " more"));
    const cancels = [...S.alerts.values()].filter((b) => b.msg_type === "Cancel").sort((a, b) => b.t - a.t).slice(0, 3);
    for (const b of cancels) box.append(alertCard(b, true));
    if (!act.length && !cancels.length) box.append(el("p", { class: "muted" }, "no active alert"));
    document.getElementById("alert-count").textContent = String(act.length);
  }

  function drawTable() {
    const tbody = document.querySelector("#tracks tbody");
    const rows = [...S.tracks.values()];
    const tti = (r) => (r.impact ? r.impact.t - S.now : Infinity);
    rows.sort((a, b) => (a.cls === "ballistic" ? 0 : 1) - (b.cls === "ballistic" ? 0 : 1) || tti(a) - tti(b)
      || (a.id < b.id ? -1 : 1));
    const frag = document.createDocumentFragment();
    for (const r of rows.slice(0, TABLE_MAX)) {
      const tr = el("tr", { "data-track-id": r.id, "data-class": r.cls, title: "show on the map" });
      tr.addEventListener("click", () => {
        const t = S.tracks.get(r.id);
        if (t) map.panTo([t.lat, t.lon]);
      });
      const t = tti(r);
      tr.append(el("td", null, r.id), el("td", { class: "cls-" + r.cls }, r.cls), el("td", null, r.status),
        el("td", null, r.sources.join(" ")),
        el("td", null, isFinite(t) ? (t > 0 ? mmss(t) : "impact") : ""));
      frag.append(tr);
    }
    tbody.replaceChildren(frag);
    document.getElementById("track-count").textContent = String(rows.length);
    document.getElementById("tracks-more").textContent = rows.length > TABLE_MAX ? "and " + (rows.length - TABLE_MAX) + " more" : "";
  }

  function drawTimeline() {
    const ol = document.getElementById("timeline");
    const frag = document.createDocumentFragment();
    const evs = S.events.map((e, i) => [e, i]).sort((a, b) => a[0].t - b[0].t || a[1] - b[1]).map((x) => x[0]);
    for (const e of evs.slice(-TIMELINE_MAX).reverse()) {
      const li = el("li", { class: "k-" + e.kind });
      li.append(el("span", { class: "t" }, utc(e.t)), document.createTextNode(e.text));
      frag.append(li);
    }
    ol.replaceChildren(frag);
  }

  function drawLinks() {
    const ul = document.getElementById("links");
    ul.replaceChildren();
    if (!S.links.size) { ul.append(el("li", { class: "muted" }, S.config && S.config.replay ? "replay: no live links" : "no partner seen yet")); return; }
    for (const [p, st] of [...S.links.entries()].sort()) {
      ul.append(el("li", { class: st.silent ? "silent" : "ok", "data-partner": p,
        title: "last message " + utc(st.last_seen) + " UTC" }, p + (st.silent ? " SILENT" : " ok")));
    }
  }

  function render() {
    frame = 0;
    if (dirty.allTracks) {
      for (const id of [...trackLayers.keys()]) if (!S.tracks.has(id)) drawTrack(id);
      for (const id of S.tracks.keys()) drawTrack(id);
      dirty.allTracks = false; dirty.tracks.clear();
    } else {
      for (const id of dirty.tracks) drawTrack(id);
      dirty.tracks.clear();
    }
    if (dirty.sensors) { drawSensors(); dirty.sensors = false; }
    if (dirty.areas && layers.areas) {
      const states = areaStates();
      layers.areas.setStyle((f) => areaStyle(f, states));
      dirty.areas = false;
    }
    // text panels: at most PANEL_HZ times a second (a busy sky must not starve the map)
    const now = performance.now();
    if (now - lastPanels >= 1000 / PANEL_HZ) {
      lastPanels = now;
      if (dirty.alerts) { drawAlerts(); dirty.alerts = false; }
      if (dirty.table) { drawTable(); dirty.table = false; }
      if (dirty.timeline) { drawTimeline(); dirty.timeline = false; }
      if (dirty.links) { drawLinks(); dirty.links = false; }
    } else if (dirty.alerts || dirty.table || dirty.timeline || dirty.links) {
      setTimeout(schedule, 1000 / PANEL_HZ - (now - lastPanels));
    }
    document.getElementById("clock").textContent = utc(S.now) + " UTC";
    document.body.dataset.tracks = String(S.tracks.size);
    // for tests and screenshots: every change so far is on the page
    const busy = dirty.alerts || dirty.table || dirty.timeline || dirty.links || dirty.tracks.size || (dirty.areas && layers.areas);
    document.body.dataset.settled = busy ? "0" : "1";
    document.body.dataset.activeAlerts = String(activeAlerts().length);
  }

  // ------------------------------------------------------------ banner
  function setupLang() {
    const sel = document.getElementById("lang");
    sel.value = S.lang;
    document.documentElement.lang = S.lang;
    sel.addEventListener("change", () => {
      S.lang = sel.value;
      document.documentElement.lang = S.lang;
      try { window.localStorage.setItem("tocsin.lang", S.lang); } catch (e) { /* private mode */ }
      langChoice.clear();
      dirty.alerts = true; schedule();
    });
  }

  function setBanner(cfg) {
    const b = document.getElementById("banner");
    b.dataset.mode = cfg.mode;
    document.getElementById("banner-mode").textContent =
      cfg.mode === "actual" ? "ACTUAL · 実際 · 실제" : "EXERCISE · 訓練 · 훈련";
    document.getElementById("banner-sub").textContent = (cfg.mode === "actual"
      ? "live warnings go to the public"
      : "drill: no alert leaves as real") + (cfg.replay ? " — REPLAY of " + cfg.replay_source : "")
      + " — " + cfg.name + " (" + cfg.exchange + ")";
    document.title = (cfg.mode === "actual" ? "ACTUAL" : "EXERCISE") + " · tocsin dashboard";
  }

  // ------------------------------------------------------------ live
  function loadSnapshot() {
    return fetch("/v1/state", { cache: "no-store" }).then((r) => r.json()).then((snap) => {
      resetModel();
      for (const s of snap.sensors || []) apply(s);
      for (const t of snap.tracks || []) apply(t, t.trail ? t.trail.map((p) => [p[0], p[1]]) : null);
      for (const a of snap.alerts || []) apply(a);
      mergeLinks(snap.links || {});
      if (typeof snap.data_t === "number" && snap.data_t > S.now) S.now = snap.data_t;
      schedule();
    });
  }

  function mergeLinks(links) {
    for (const [p, st] of Object.entries(links)) S.links.set(p, st);
    dirty.links = true;
  }

  function refreshSlow() {
    // sensors and link health change rarely: merge them from the snapshot
    fetch("/v1/state", { cache: "no-store" }).then((r) => r.json()).then((snap) => {
      for (const s of snap.sensors || []) if (!S.sensors.has(s.body.id)) apply(s);
      mergeLinks(snap.links || {});
      schedule();
    }).catch(() => {});
  }

  function connect() {
    const conn = document.getElementById("conn");
    const es = new EventSource("/v1/events?kinds=track,alert,link,heartbeat");
    let opened = false;
    es.addEventListener("open", () => {
      conn.dataset.state = "open";
      // after a reconnect, events may have been missed: re-sync from the snapshot
      if (opened) loadSnapshot();
      opened = true;
    });
    es.addEventListener("error", () => { conn.dataset.state = es.readyState === 2 ? "closed" : "connecting"; });
    es.addEventListener("track", (e) => { apply(JSON.parse(e.data)); schedule(); });
    es.addEventListener("alert", (e) => { apply(JSON.parse(e.data)); schedule(); });
    es.addEventListener("link", (e) => {
      const d = JSON.parse(e.data);
      const was = S.links.get(d.partner);
      S.links.set(d.partner, { silent: d.silent, last_seen: d.last_seen });
      // stamped with the data time, so the timeline stays in one clock (--clock data)
      if (!was || was.silent !== d.silent) note(S.now || d.last_seen, "link", "link " + d.partner + (d.silent ? " SILENT" : " up"));
      dirty.links = true; schedule();
    });
    es.addEventListener("heartbeat", (e) => {
      const d = JSON.parse(e.data);
      if (typeof d.data_t === "number" && d.data_t > S.now) { S.now = d.data_t; dirty.table = true; schedule(); }
    });
    // the server ended the stream (shutdown, or this client was too slow): start
    // again from a snapshot as soon as a server answers
    es.addEventListener("closed", () => { es.close(); conn.dataset.state = "closed"; reconnectLater(1000); });
  }

  function reconnectLater(delay) {
    setTimeout(() => {
      document.getElementById("conn").dataset.state = "connecting";
      loadSnapshot().then(connect, () => reconnectLater(Math.min(2 * delay, 10000)));
    }, delay);
  }

  // ------------------------------------------------------------ replay
  const R = { msgs: [], i: 0, t0: 0, t1: 0, t: 0, playing: false, last: 0 };

  function replaySeek(t) {
    if (t < R.t) { resetModel(); R.i = 0; }
    while (R.i < R.msgs.length) {
      const m = R.msgs[R.i];
      if (m.kind !== "sensor" && messageTime(m) > t) break;
      apply(m); R.i++;
    }
    R.t = t; S.now = Math.max(t, S.now);
    if (S.now > t) S.now = t;
    dirty.table = true; dirty.areas = true; dirty.alerts = true;
    const slider = document.getElementById("slider");
    if (Math.abs(Number(slider.value) - t) > 0.05) slider.value = String(t);
    document.getElementById("replay-time").textContent = "T+" + mmss(t - R.t0) + " / " + mmss(R.t1 - R.t0)
      + "   " + utc(t) + " UTC";
    document.body.dataset.replayT = String(t);
    schedule();
  }

  function replayLoop(ts) {
    if (!R.playing) return;
    const dt = R.last ? (ts - R.last) / 1000 : 0;
    R.last = ts;
    const speed = Number(document.getElementById("speed").value) || 1;
    let t = R.t + dt * speed;
    if (t >= R.t1) { t = R.t1; setPlaying(false); }
    replaySeek(t);
    if (R.playing) requestAnimationFrame(replayLoop);
  }

  function setPlaying(on) {
    R.playing = on; R.last = 0;
    document.getElementById("play").textContent = on ? "⏸" : "▶";
    document.getElementById("play").setAttribute("aria-pressed", String(on));
    if (on) { if (R.t >= R.t1) replaySeek(R.t0); requestAnimationFrame(replayLoop); }
  }

  function startReplay() {
    document.getElementById("conn").dataset.state = "replay";
    document.getElementById("replay-bar").hidden = false;
    dirty.links = true;
    return fetch("/v1/replay").then((r) => r.json()).then((rec) => {
      R.msgs = rec.messages; R.t0 = rec.t0 || 0; R.t1 = rec.t1 || 0; R.t = R.t0; R.i = 0;
      const slider = document.getElementById("slider");
      slider.min = String(R.t0); slider.max = String(R.t1); slider.value = String(R.t0);
      slider.addEventListener("input", () => replaySeek(Number(slider.value)));
      document.getElementById("play").addEventListener("click", () => setPlaying(!R.playing));
      resetModel();
      replaySeek(R.t0);
      document.body.dataset.replay = "ready";
    });
  }

  // ------------------------------------------------------------ operators
  function msg(text, error) {
    const p = document.getElementById("op-msg");
    p.textContent = text; p.classList.toggle("error", !!error);
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": S.session ? S.session.csrf : "" },
      body: JSON.stringify(body || {}),
    }).then((r) => r.json().then((d) => ({ status: r.status, body: d })));
  }

  function showSession(s) {
    S.session = s;
    // never show one operator's view of the proposals to the next
    document.getElementById("pending").replaceChildren();
    delete document.body.dataset.pending;
    document.getElementById("manual-form").reset();
    document.getElementById("login-form").hidden = !!s;
    document.getElementById("operator").hidden = !s;
    if (s) {
      document.getElementById("op-name").textContent = s.name;
      document.getElementById("op-role").textContent = s.role;
      refreshPending();
    } else {
      S.areaSelect.clear(); dirty.areas = true; schedule();
    }
  }

  function refreshPending() {
    if (!S.session) return Promise.resolve();
    return fetch("/v1/manual", { cache: "no-store" }).then((r) => {
      if (r.status === 401) { showSession(null); return null; }
      return r.json();
    }).then((d) => {
      if (!d) return;
      const ul = document.getElementById("pending");
      ul.replaceChildren();
      const pend = d.pending || [];
      if (!pend.length) ul.append(el("li", { class: "muted" }, "nothing pending"));
      for (const p of pend) {
        const li = el("li", { "data-pending-id": p.id });
        li.append(el("div", null, p.msg_type.toUpperCase() + " " + (p.areas || []).join(", ")
          + (p.references && p.references.length ? " (refs " + p.references.join(" ") + ")" : "")),
          el("div", { class: "muted" }, "proposed by " + p.proposed_by + " at " + utc(p.proposed_at) + " UTC — "
            + (p.status || "awaiting a second operator")));
        if (p.text) li.append(el("div", null, p.text));
        const own = p.proposed_by === S.session.name;
        const ok = el("button", { type: "button", class: "confirm", title: own ? "a second, different operator must confirm" : "issue it" },
          own ? "Confirm (another operator)" : "Confirm and issue");
        if (own) ok.disabled = true;
        ok.addEventListener("click", () => post("/v1/manual/confirm", { id: p.id }).then((r) => {
          if (r.status === 200) {
            msg("issued " + (r.body.alert_id || ""), false);
            note(S.now, "operator", S.session.name + " confirmed " + p.id + " (proposed by " + p.proposed_by + ")");
            schedule();
          }
          else msg(r.body.detail || "refused", true);
          refreshPending();
        }));
        const wd = el("button", { type: "button", class: "withdraw" }, "Withdraw");
        wd.disabled = !(own || S.session.role === "supervisor");
        wd.addEventListener("click", () => post("/v1/manual/withdraw", { id: p.id }).then((r) => {
          msg(r.status === 200 ? "withdrawn" : (r.body.detail || "refused"), r.status !== 200);
          refreshPending();
        }));
        li.append(ok, document.createTextNode(" "), wd);
        ul.append(li);
      }
      document.body.dataset.pending = String(pend.length);
      // the manual form's reference list: issued manual alerts not yet cancelled
      const refs = document.getElementById("manual-refs");
      const keep = refs.value;
      refs.replaceChildren(el("option", { value: "" }, "—"));
      for (const i of d.issued || []) {
        if (!i.cancelled) refs.append(el("option", { value: i.id }, i.id + " " + (i.areas || []).join(",")));
      }
      if ([...refs.options].some((o) => o.value === keep)) refs.value = keep;
      document.getElementById("manual-status").textContent = d.status;
    }).catch(() => {});
  }

  function setupOperator() {
    document.getElementById("login-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const name = document.getElementById("login-name").value.trim();
      const password = document.getElementById("login-password").value;
      const totp = document.getElementById("login-totp").value.trim();
      post("/auth/login", totp ? { name, password, totp } : { name, password }).then((r) => {
        document.getElementById("login-password").value = "";
        document.getElementById("login-totp").value = "";
        if (r.status === 200) { showSession(r.body); msg("logged in as " + r.body.name, false); }
        else msg(r.body.detail || "login failed", true);
      });
    });
    document.getElementById("logout-button").addEventListener("click", () => {
      post("/auth/logout", {}).then(() => { showSession(null); msg("logged out", false); });
    });
    document.getElementById("manual-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const type = document.getElementById("manual-type").value;
      const ref = document.getElementById("manual-refs").value;
      const areas = document.getElementById("manual-areas").value.split(/[\s,]+/).filter(Boolean);
      const written = document.getElementById("manual-text").value;
      const template = document.getElementById("manual-template").value;
      // the text goes out only in the language it is written in: never pasted into another
      const text = template ? "" : { [document.getElementById("manual-lang").value]: written };
      post("/v1/manual/propose", { msg_type: type, areas, text, template, references: ref && type !== "Alert" ? [ref] : [] }).then((r) => {
        if (r.status === 200) {
          msg("proposed " + r.body.id + ": a second operator must confirm", false);
          note(S.now, "operator", S.session.name + " proposed " + r.body.id + " " + type + " " + r.body.areas.join(", "));
          S.areaSelect.clear(); document.getElementById("manual-form").reset(); dirty.areas = true; schedule();
        } else msg((r.body.field ? r.body.field + ": " : "") + (r.body.detail || "refused"), true);
        refreshPending();
      });
    });
    fetch("/auth/session", { cache: "no-store" }).then((r) => (r.status === 200 ? r.json() : null))
      .then((s) => showSession(s)).catch(() => showSession(null));
    setInterval(refreshPending, 3000);
  }

  // ------------------------------------------------------------ start
  fetch("/v1/config", { cache: "no-store" }).then((r) => r.json()).then((cfg) => {
    S.config = cfg;
    setBanner(cfg);
    setupLang();
    if (!cfg.accounts) document.getElementById("operator-panel").hidden = true;
    setupOperator();
    const areas = loadAreas();
    const start = cfg.replay ? startReplay() : loadSnapshot().then(connect);
    // new partners and sensors: poll at the partners' heartbeat period
    if (!cfg.replay) setInterval(refreshSlow, Math.max(1000, 1000 * (cfg.link_heartbeat_s || 5)));
    return Promise.all([areas, start]);
  }).then(() => { document.body.dataset.ready = "1"; schedule(); })
    .catch((e) => { document.getElementById("banner-mode").textContent = "DASHBOARD ERROR: " + e; });

  window.tocsinDashboard = { state: S, replay: R, apply, schedule, map, trackLayers, areaName, areaStyle };
})();
