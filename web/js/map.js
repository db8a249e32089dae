// SPDX-License-Identifier: MIT
// The live map: every vehicle the user may see (owntracks/+/+; the hub's
// ACL filters per message; an admin sees every device) as a marker that
// moves with each fix, with a trail of its last points, speed and
// last-seen age; vehicles whose last fix is older than STALE_MS, or whose
// device is offline (OwnTracks lwt, users/{device}/status online:false,
// also the retained status found at load), are greyed. Each vehicle has a
// colour of its own (a palette slot picked by its name, the next free one
// on a clash) and a label that never covers a marker or another label.
//
// The base layer is the operator's tile server when map_tiles is set
// (GET api/config; hubd's CSP allows images from that origin only), else
// local: the demo routes (data/demo-routes.geojson, what the demo
// trackers drive) and a light coordinate grid whose labels never overlap.
// Vectors are drawn on canvas (one canvas per pane: grid, routes, trails,
// vehicles), so 1000 moving vehicles stay cheap (bench/dashboard_frames.mjs).
import { $, el, age } from './dom.js';

const L = window.L;
const STALE_MS = 60000;
const TRAIL_POINTS = 60;
const TRAIL_POINTS_FLEET = 15;  // ... above BATCH_FLEET vehicles (canvas cost)
const LABELS_MAX = 50;          // permanent name labels up to this many vehicles
const LIST_MAX = 100;           // rows in the vehicle list
const BATCH_FLEET = 200;        // above this many vehicles, updates are batched
const BATCH_MS = 250;           // ... and applied at most this often
const GREY = '#9aa3b2';
const GRID_STEPS = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2,
	0.5, 1, 2, 5, 10, 20, 30];
const GRID_GAP_X = 96;          // px between meridians (room for a "13.4055°" label)
const GRID_GAP_Y = 44;          // px between parallels
const MARKER_RADIUS = 7;
const MARKER_WEIGHT = 2;
const LABEL_GAP = 5;            // px between a marker's edge and its label
const BASE_WAIT_MS = 1500;      // tiles wait this long for a first view at most
const DECLUTTER_MS = 400;       // labels placed again after fixes at most this often
const COLOR_TRIES = 32;         // hues tried for a vehicle past the palette
// Clearly distinct colours for the first vehicles (none grey: grey means
// stale); more vehicles get golden-angle hues at alternating lightness.
const PALETTE = ['#2457d6', '#d62728', '#2ca02c', '#ff7f0e', '#8e44ad', '#8c564b',
	'#e377c2', '#17becf', '#9a9a00', '#00897b', '#c49000', '#1b2a6b'];

/* Whether two DOMRects overlap (touching edges do not). */
function overlaps(a, b) {
	return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
}

/* Text for Leaflet's attribution control, which takes HTML: escaped. */
function escapeHtml(text) {
	return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/* A grid label (text as a DOM node: never HTML). */
function label(latlng, text, anchor) {
	return L.marker(latlng, {
		pane: 'gridLabels', interactive: false, keyboard: false,
		icon: L.divIcon({ className: 'grid-label', html: el('span', {}, text), iconSize: null,
			iconAnchor: anchor }),
	});
}

/* A coordinate grid recomputed for the view. Steps are chosen by screen
 * distance (meridians GRID_GAP_X apart, parallels GRID_GAP_Y), longitudes
 * are labelled along the bottom and latitudes along the left edge, and a
 * label that would still touch another one or a map control is left out. */
const Grid = L.Layer.extend({
	onAdd(map) {
		this._group = L.layerGroup().addTo(map);
		map.on('moveend', this._draw, this);
		this._draw();
	},
	onRemove(map) {
		map.off('moveend', this._draw, this);
		this._group.remove();
	},
	_draw() {
		const map = this._map;
		const size = map.getSize();
		if (!size.x || !size.y)
			return;
		const b = map.getBounds();
		const c = map.getCenter();
		const at = (lat, lng) => map.latLngToContainerPoint([lat, lng]);
		const dx = (s) => Math.abs(at(c.lat, c.lng + s).x - at(c.lat, c.lng).x);
		const dy = (s) => Math.abs(at(Math.min(c.lat + s, 85), c.lng).y - at(c.lat, c.lng).y);
		const stepX = GRID_STEPS.find((s) => dx(s) >= GRID_GAP_X) || 45;
		const stepY = GRID_STEPS.find((s) => dy(s) >= GRID_GAP_Y) || 45;
		const digits = (step) => Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
		const style = { pane: 'grid', color: '#cfd7e3', weight: 1, interactive: false };
		this._group.clearLayers();
		const s = Math.max(-85, b.getSouth() - stepY);
		const n = Math.min(85, b.getNorth() + stepY);
		const w = b.getWest() - stepX;
		const e = b.getEast() + stepX;
		const labels = [];
		for (let y = Math.ceil(s / stepY) * stepY; y <= n; y += stepY) {
			this._group.addLayer(L.polyline([[y, w], [y, e]], style));
			labels.push(label([y, b.getWest()], `${y.toFixed(digits(stepY))}°`, [-3, 14]));
		}
		for (let x = Math.ceil(w / stepX) * stepX; x <= e; x += stepX) {
			this._group.addLayer(L.polyline([[s, x], [n, x]], style));
			labels.push(label([b.getSouth(), x], `${x.toFixed(digits(stepX))}°`, [-3, 16]));
		}
		// first come, first kept: latitudes, then longitudes left to right
		// (all added, then all boxes read: one layout, then the removals)
		for (const m of labels)
			this._group.addLayer(m);
		const box = map.getContainer().getBoundingClientRect();
		const kept = [...map.getContainer().querySelectorAll('.leaflet-control')]
			.map((ctl) => ctl.getBoundingClientRect()).filter((r) => r.width && r.height);
		const drop = labels.filter((m) => {
			const span = m.getElement() && m.getElement().firstElementChild;
			const r = span ? span.getBoundingClientRect() : null;
			const inside = r && r.left >= box.left && r.right <= box.right && r.top >= box.top &&
				r.bottom <= box.bottom;
			if (!r || !inside || kept.some((k) => overlaps(k, r)))
				return true;
			kept.push(r);
			return false;
		});
		for (const m of drop)
			this._group.removeLayer(m);
	},
});

export class LiveMap {
	/**
	 * @param {object} hub  a hubio connection (watchLocations, watchStatus)
	 * @param {object} [opts] {staleMs, trailPoints, tiles (a tile URL
	 *   template: the base layer; none: the offline base), attribution}
	 */
	constructor(hub, opts = {}) {
		this.hub = hub;
		this.staleMs = opts.staleMs ?? STALE_MS;
		this.trailPoints = opts.trailPoints ?? TRAIL_POINTS;
		this.vehicles = new Map();     // "device/name" -> vehicle
		this.deviceOnline = new Map(); // device -> bool (users/{device}/status)
		this.colors = new Set();       // colours taken on this map
		this.colorByKey = new Map();   // vehicle -> its colour (for the page's life)
		this.lastDeclutter = 0;
		this.declutterTimer = null;
		this.userMoved = false;
		this.fitTimer = null;
		this.labels = true;
		this.fixes = 0;                // fixes received
		this.queue = new Map();        // key -> fixes waiting for the next flush
		this.flushing = false;
		this.lastFlush = 0;

		const map = L.map('map', { preferCanvas: true, zoomSnap: 0.25, minZoom: 2,
			worldCopyJump: false, zoomControl: false });
		L.control.zoom({ position: 'topright' }).addTo(map);
		this.map = map;
		map.attributionControl.setPrefix(false);
		for (const [name, z] of [['grid', 300], ['gridLabels', 310], ['routes', 350],
			['trails', 390]])
			map.createPane(name).style.zIndex = String(z);
		map.getPane('gridLabels').style.pointerEvents = 'none';
		map.setView([20, 0], 2);
		if (opts.tiles) {
			// the operator's tile server (map_tiles); the attribution is
			// text (Leaflet takes HTML: escaped). Shown once the first view
			// is set (the vehicles or the routes fitted), so no tiles of the
			// world view are fetched only to be dropped
			this.base = L.tileLayer(opts.tiles, {
				maxZoom: 19, subdomains: 'abc', crossOrigin: false,
				// the page's origin, no path (what OpenStreetMap's tile
				// policy asks for); hubd's pages say same-origin otherwise
				referrerPolicy: 'strict-origin-when-cross-origin',
				attribution: opts.attribution ? escapeHtml(opts.attribution) : '',
			});
			this.baseTimer = setTimeout(() => this.showBase(), BASE_WAIT_MS);
		} else {
			map.attributionControl.addAttribution('offline base: demo routes and grid');
			this.base = new Grid().addTo(map);
		}
		this.trailLayer = L.layerGroup().addTo(map);
		this.markerLayer = L.layerGroup().addTo(map);
		this.empty = el('div', { class: 'map-empty', role: 'status' }, 'No vehicles visible yet');
		map.getContainer().append(this.empty);
		this.loadRoutes();

		// a user who pans or zooms keeps the view; "Fit" brings it back
		const moved = () => { this.userMoved = true; };
		for (const ev of ['mousedown', 'wheel', 'touchstart', 'keydown'])
			map.getContainer().addEventListener(ev, moved, { passive: true });
		this.onFit = () => this.fit(true);
		$('fit').addEventListener('click', this.onFit);
		this.onView = () => this.declutter();
		map.on('zoomend moveend', this.onView);

		this.onLocation = (msg, meta) => this.location(msg, meta);
		this.onStatus = (st) => this.status(st);
		hub.on('location', this.onLocation);
		hub.on('status', this.onStatus);
		// once: hubio subscribes again by itself after every reconnect
		this.onConnect = () => this.subscribe();
		if (hub.connected)
			this.subscribe();
		else
			hub.once('connect', this.onConnect);
		this.tick = setInterval(() => this.refresh(), 1000);
		// the map's box changes with the layout (narrow screens)
		this.resize = new ResizeObserver(() => map.invalidateSize({ pan: false }));
		this.resize.observe(map.getContainer());
	}

	subscribe() {
		// statuses first: the retained "offline" of a stopped tracker is
		// known before its retained last fix makes a marker
		this.hub.watchStatus().catch(() => {});
		this.hub.watchLocations().catch(() => {
			this.empty.textContent = 'You may not see any vehicles';
		});
	}

	/**
	 * Forget every vehicle and subscribe again: the retained fixes and
	 * statuses come again as the hub lets them through now. After a
	 * membership change: vehicles of a revoked room go, those of a granted
	 * one come at once (not at their next fix). Colours stay.
	 */
	reload() {
		if (this.dead)
			return;
		for (const v of this.vehicles.values()) {
			v.marker.remove();
			v.trail.remove();
		}
		this.vehicles.clear();
		this.queue.clear();
		this.deviceOnline.clear();
		this.labels = true;
		this.refresh();
		if (this.hub.connected)
			this.subscribe();
	}

	/* The tile layer, once (map_tiles). */
	showBase() {
		clearTimeout(this.baseTimer);
		if (!this.dead && this.base && !this.map.hasLayer(this.base))
			this.base.addTo(this.map);
	}

	destroy() {
		this.dead = true;
		clearInterval(this.tick);
		clearTimeout(this.baseTimer);
		clearTimeout(this.declutterTimer);
		clearTimeout(this.fitTimer);
		this.resize.disconnect();
		$('fit').removeEventListener('click', this.onFit);
		this.map.off('zoomend moveend', this.onView);
		this.hub.off('location', this.onLocation);
		this.hub.off('status', this.onStatus);
		this.hub.off('connect', this.onConnect);
		this.map.remove();
		$('vehicle-list').replaceChildren();
		$('vehicle-count').textContent = '0';
	}

	async loadRoutes() {
		try {
			const r = await fetch('data/demo-routes.geojson', { cache: 'no-cache' });
			if (!r.ok)
				return;
			const gj = await r.json();
			this.routes = L.geoJSON(gj, {
				pane: 'routes',
				style: { color: '#7d8aa3', weight: 4, opacity: 0.55, lineCap: 'round' },
				onEachFeature: (f, layer) => {
					if (f.properties && f.properties.name)
						layer.bindTooltip(f.properties.name, { sticky: true, className: 'route-tip' });
				},
			}).addTo(this.map);
			if (!this.vehicles.size && this.routes.getBounds().isValid()) {
				this.map.fitBounds(this.routes.getBounds().pad(0.1));
				this.showBase();
			}
		} catch {
			// no routes: the grid (or the tiles) alone
		}
	}

	// ------------------------------------------------------------ feed

	/* A message on owntracks/{device}/{name}: queued; applied in batches
	 * (flush) so many vehicles cost one redraw per batch, not one each. */
	location(msg, meta) {
		const key = `${meta.device}/${meta.name}`;
		if (msg._type === 'lwt') {
			const v = this.vehicles.get(key);
			if (v) {
				v.offline = true;
				this.style(v);
			}
			return;
		}
		if (msg._type !== 'location')
			return;
		const lat = Number(msg.lat);
		const lon = Number(msg.lon);
		if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 ||
			Math.abs(lon) > 180)
			return;
		const tst = Number(msg.tst) > 0 ? Number(msg.tst) * 1000 : Date.now();
		this.fixes++;
		let q = this.queue.get(key);
		if (!q) {
			q = { key, device: meta.device, points: [] };
			this.queue.set(key, q);
		}
		// every fix of the batch goes into the trail; the newest wins the rest
		if (q.points.length < this.trailPoints)
			q.points.push([lat, lon, tst]);
		else
			q.points[q.points.length - 1] = [lat, lon, tst];
		q.msg = msg;
		q.tst = Math.max(q.tst || 0, tst);
		q.live = q.live || !meta.retain;
		this.schedule();
	}

	/* Next animation frame, but for a big fleet not more often than
	 * BATCH_MS: a full canvas redraw per batch, a few per second. */
	schedule() {
		if (this.flushing)
			return;
		this.flushing = true;
		const gap = this.vehicles.size > BATCH_FLEET ? BATCH_MS : 0;
		const wait = Math.max(0, this.lastFlush + gap - performance.now());
		const go = () => requestAnimationFrame(() => this.flush());
		if (wait > 0)
			setTimeout(go, wait);
		else
			go();
	}

	flush() {
		this.flushing = false;
		if (this.dead)
			return;
		this.lastFlush = performance.now();
		const batch = this.queue;
		const before = this.vehicles.size;
		this.queue = new Map();
		for (const q of batch.values())
			this.apply(q);
		if (this.vehicles.size !== before)
			this.refresh(); // new vehicles: list and count at once (and labels)
		else
			this.scheduleDeclutter(); // moved markers, longer labels
	}

	/* Labels are placed again after fixes at most every DECLUTTER_MS (it
	 * reads the labels' boxes: a layout), at once after a zoom or pan. */
	scheduleDeclutter() {
		if (this.declutterTimer || !this.labels)
			return;
		const wait = Math.max(0, this.lastDeclutter + DECLUTTER_MS - performance.now());
		this.declutterTimer = setTimeout(() => {
			this.declutterTimer = null;
			this.declutter();
		}, wait);
	}

	apply(q) {
		let v = this.vehicles.get(q.key);
		const pts = q.points.filter((p) => !v || p[2] >= v.tst);
		if (!pts.length)
			return; // older fixes only (retained copies after a reconnect)
		const [lat, lon] = pts[pts.length - 1];
		if (!v) {
			v = this.add(q.key, q.device, pts[0][0], pts[0][1]);
			pts.shift();
		}
		let changed = false;
		for (const [plat, plon] of pts) {
			const last = v.points[v.points.length - 1];
			if (last[0] === plat && last[1] === plon)
				continue;
			v.points.push([plat, plon]);
			changed = true;
		}
		if (changed) {
			const keep = this.vehicles.size > BATCH_FLEET ? Math.min(this.trailPoints,
				TRAIL_POINTS_FLEET) : this.trailPoints;
			if (v.points.length > keep)
				v.points.splice(0, v.points.length - keep);
			v.trail.setLatLngs(v.points);
			v.marker.setLatLng([lat, lon]);
		}
		const msg = q.msg;
		v.tst = Math.max(v.tst, q.tst);
		v.seen = Date.now();
		v.vel = msg.vel;
		v.cog = msg.cog;
		v.batt = msg.batt;
		v.acc = msg.acc;
		v.tid = msg.tid || v.tid;
		v.lat = lat;
		v.lon = lon;
		if (q.live)
			v.offline = false;
		this.style(v);
		if (this.labels && v.label !== this.labelText(v)) {
			v.label = this.labelText(v);
			v.marker.setTooltipContent(v.label);
		}
	}

	/* A colour of the vehicle's own: its palette slot by name, else the
	 * next free one; past the palette, golden-angle hues. Kept for the
	 * page's life (a vehicle never changes colour). */
	colorFor(key) {
		if (this.colorByKey.has(key))
			return this.colorByKey.get(key);
		let h = 0;
		for (const ch of key)
			h = (h * 31 + ch.codePointAt(0)) >>> 0;
		for (let i = 0; i < PALETTE.length; i++) {
			const c = PALETTE[(h + i) % PALETTE.length];
			if (!this.colors.has(c))
				return c;
		}
		// past the palette: a few tries for a hue not taken yet (a big
		// fleet shares hues; its labels and the list tell vehicles apart)
		let c = '';
		for (let k = 0; k < COLOR_TRIES; k++) {
			c = `hsl(${((h + k * 137.508) % 360).toFixed(1)} 70% ${(h + k) % 2 ? 32 : 46}%)`;
			if (!this.colors.has(c))
				break;
		}
		return c;
	}

	add(key, device, lat, lon) {
		const color = this.colorFor(key);
		this.colors.add(color);
		this.colorByKey.set(key, color);
		const v = {
			key, device, color, points: [[lat, lon]], tst: 0, seen: 0, stale: null,
			// the retained status decides at load: a stopped tracker's last
			// fix may be recent, its status says offline
			offline: this.deviceOnline.get(device) === false, label: '',
		};
		v.trail = L.polyline(v.points, { pane: 'trails', color, weight: 4, opacity: 0.7,
			interactive: false }).addTo(this.trailLayer);
		v.marker = L.circleMarker([lat, lon], { radius: MARKER_RADIUS, color: '#fff',
			weight: MARKER_WEIGHT, fillColor: color, fillOpacity: 0.95 }).addTo(this.markerLayer);
		v.marker.bindPopup(() => this.popup(v));
		this.vehicles.set(key, v);
		if (this.labels && this.vehicles.size > LABELS_MAX)
			this.setLabels(false);
		else if (this.labels)
			v.marker.bindTooltip('', { permanent: true, direction: 'right',
				offset: [MARKER_RADIUS + MARKER_WEIGHT + LABEL_GAP, 0], className: 'vehicle-label' });
		this.empty.hidden = true;
		this.scheduleFit();
		return v;
	}

	/* Labels clear of every marker and of each other: each label (in name
	 * order) goes right of its marker, else left, else it is hidden (the
	 * list and the marker's popup still name it). All boxes are read first
	 * (one layout; a hidden label keeps its box), the other side is the
	 * mirror image about the marker (Leaflet places both alike), and only
	 * then are labels moved or hidden. */
	declutter() {
		if (!this.labels || this.dead)
			return;
		this.lastDeclutter = performance.now();
		const pad = MARKER_RADIUS + MARKER_WEIGHT;
		const box = this.map.getContainer().getBoundingClientRect();
		const marks = [];
		const items = [];
		for (const v of [...this.vehicles.values()].sort((a, b) => (a.key < b.key ? -1 : 1))) {
			const p = this.map.latLngToContainerPoint([v.lat, v.lon]);
			const x = box.left + p.x;
			const y = box.top + p.y;
			marks.push({ left: x - pad, right: x + pad, top: y - pad, bottom: y + pad });
			const tip = v.marker.getTooltip();
			const elt = tip && tip.getElement();
			if (elt)
				items.push({ v, tip, elt, x, dir: tip.options.direction,
					r: elt.getBoundingClientRect() });
		}
		const kept = [];
		const free = (r) => !marks.some((m) => overlaps(m, r)) && !kept.some((k) => overlaps(k, r));
		for (const it of items) {
			const there = { left: 2 * it.x - it.r.right, right: 2 * it.x - it.r.left,
				top: it.r.top, bottom: it.r.bottom };
			const sides = it.dir === 'left' ? [['right', there], ['left', it.r]]
				: [['right', it.r], ['left', there]];
			it.choice = null;
			for (const [dir, r] of sides)
				if (free(r)) {
					it.choice = dir;
					kept.push(r);
					break;
				}
		}
		const side = MARKER_RADIUS + MARKER_WEIGHT + LABEL_GAP;
		for (const it of items) {
			if (it.choice && it.choice !== it.dir) {
				it.tip.options.direction = it.choice;
				it.tip.options.offset = L.point(it.choice === 'right' ? side : -side, 0);
				it.tip.update();
			}
			if (it.elt.classList.contains('label-hidden') !== !it.choice)
				it.elt.classList.toggle('label-hidden', !it.choice);
			it.v.labelShown = !!it.choice;
		}
	}

	setLabels(on) {
		this.labels = on;
		for (const v of this.vehicles.values())
			if (!on) {
				v.marker.unbindTooltip();
				v.labelShown = false;
			}
	}

	labelText(v) {
		const name = v.tid || v.key.split('/')[0];
		return Number.isFinite(Number(v.vel)) && v.vel != null ? `${name} · ${Math.round(v.vel)} km/h`
			: name;
	}

	status(st) {
		if (!st || !st.user)
			return;
		this.deviceOnline.set(st.user, !!st.online);
		for (const v of this.vehicles.values())
			if (v.device === st.user) {
				v.offline = !st.online;
				this.style(v);
			}
	}

	isStale(v, now) {
		return v.offline || now - v.tst > this.staleMs;
	}

	style(v, now = Date.now()) {
		const stale = this.isStale(v, now);
		if (stale === v.stale)
			return;
		v.stale = stale;
		v.marker.setStyle({ fillColor: stale ? GREY : v.color, fillOpacity: stale ? 0.7 : 0.95 });
		v.trail.setStyle({ color: stale ? GREY : v.color, opacity: stale ? 0.35 : 0.7 });
		const tip = v.marker.getTooltip && v.marker.getTooltip();
		const tel = tip && tip.getElement && tip.getElement();
		if (tel)
			tel.classList.toggle('stale', stale);
	}

	popup(v) {
		const now = Date.now();
		return el('div', { class: 'vehicle-tip' },
			el('strong', {}, v.tid ? `${v.tid} (${v.key})` : v.key), el('br'),
			`speed ${v.vel != null ? Math.round(v.vel) + ' km/h' : '—'}`,
			v.cog != null ? ` · course ${Math.round(v.cog)}°` : '', el('br'),
			`last fix ${age(now - v.tst)} ago${this.isStale(v, now) ? ' (stale)' : ''}`, el('br'),
			v.batt != null ? `battery ${v.batt}% · ` : '',
			`${v.lat.toFixed(5)}, ${v.lon.toFixed(5)}`);
	}

	// ------------------------------------------------------------- view

	scheduleFit() {
		if (this.userMoved || this.fitTimer)
			return;
		this.fitTimer = setTimeout(() => {
			this.fitTimer = null;
			if (!this.userMoved)
				this.fit(false);
		}, 250);
	}

	fit(byUser) {
		const pts = [...this.vehicles.values()].map((v) => [v.lat, v.lon]);
		if (byUser)
			this.userMoved = false;
		if (!pts.length) {
			if (this.routes)
				this.map.fitBounds(this.routes.getBounds().pad(0.1));
			this.showBase();
			return;
		}
		const b = L.latLngBounds(pts);
		// room on the right for the name labels
		this.map.fitBounds(b, { maxZoom: 15, animate: false, paddingTopLeft: [40, 40],
			paddingBottomRight: [120, 40] });
		this.showBase();
	}

	/* Once a second: staleness, ages and the list. */
	refresh() {
		const now = Date.now();
		for (const v of this.vehicles.values())
			this.style(v, now);
		const n = this.vehicles.size;
		// until the user takes over the view, keep every vehicle in it
		if (n && !this.userMoved && !this.fitTimer) {
			const view = this.map.getBounds();
			for (const v of this.vehicles.values())
				if (!view.contains([v.lat, v.lon])) {
					this.fit(false);
					break;
				}
		}
		$('vehicle-count').textContent = String(n);
		this.empty.hidden = n > 0;
		this.declutter();
		const keys = [...this.vehicles.keys()].sort().slice(0, LIST_MAX);
		const rows = keys.map((k) => {
			const v = this.vehicles.get(k);
			const stale = this.isStale(v, now);
			const dot = el('span', { class: 'dot', 'aria-hidden': 'true' });
			dot.style.background = v.color;
			return el('li', {
				class: stale ? 'stale' : '',
				dataset: { key: k, lat: v.lat, lon: v.lon, stale: stale ? '1' : '0',
					points: v.points.length },
			}, dot,
			el('span', { class: 'name' }, v.tid ? `${v.tid} · ${k}` : k),
			el('span', { class: 'speed' }, v.vel != null ? `${Math.round(v.vel)} km/h` : '—'),
			el('span', { class: 'age', title: 'since the last fix' },
				stale ? `${age(now - v.tst)} (stale)` : age(now - v.tst)));
		});
		if (n > LIST_MAX)
			rows.push(el('li', { class: 'more' }, `and ${n - LIST_MAX} more`));
		$('vehicle-list').replaceChildren(...rows);
	}

	/** For tests and benchmarks: what the map holds. */
	snapshot() {
		let markers = 0;
		this.markerLayer.eachLayer(() => { markers++; });
		return {
			vehicles: this.vehicles.size, markers, fixes: this.fixes,
			list: [...this.vehicles.values()].map((v) => ({ key: v.key, lat: v.lat, lon: v.lon,
				stale: this.isStale(v, Date.now()), points: v.points.length, vel: v.vel,
				color: v.color, label: !!v.labelShown })),
		};
	}
}
