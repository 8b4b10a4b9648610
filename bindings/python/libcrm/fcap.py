"""Frequency-cap arbitration engine (``crm/fcap.h``, ``specs/fcap.md``).

``FrequencyCap(rules)`` takes the rules as a dict in the JSON shape of the
spec; the names of channels, categories, tags and caps stay here, the C
engine sees small integer ids. Rows (history, candidates) are dicts with the
spec's CSV columns, as values or as the strings of a CSV file.
"""
import csv
import ctypes
import json
import math

from . import _types
from ._arrays import as_records, dtype_of
from ._lib import P, SZ, c_status, declare_all, lib
from .errors import DataError, RuleError

CATEGORIES = ("promo", "content", "trigger", "service")
DEFAULT_CHANNELS = ("email", "sms", "push", "telegram", "viber", "whatsapp", "social_ads", "call")
_SCOPES = {"global": 0, "channel": 1, "campaign": 2, "category": 3, "tag": 4}
_ALL = (1 << 64) - 1
_NO_CAND = (1 << 64) - 1
_KEY_ANY = -1
_NEVER = -1
_CODES = {0: "OK", 1: "ALREADY_SENT", 2: "NO_CONSENT", 3: "QUIET_HOURS", 4: "CAP",
          5: "SIMULTANEOUS", 6: "OUTRANKED", 7: "OUTRANKED:SIMULTANEOUS"}

#: numpy dtypes of the C records (None without numpy).
EVENT_DTYPE = dtype_of(_types.FcapEvent)
CANDIDATE_DTYPE = dtype_of(_types.FcapCandidate)
DECISION_DTYPE = dtype_of(_types.FcapDecision)

_PP = ctypes.POINTER(P)
declare_all({
    "crm_fcap_rules_init": (c_status, [ctypes.POINTER(_types.FcapRules), ctypes.c_uint]),
    "crm_fcap_new": (c_status, [_PP, ctypes.POINTER(_types.FcapRules)]),
    "crm_fcap_free": (None, [P]),
    "crm_fcap_add_history": (c_status, [P, P, SZ, P, SZ]),
    "crm_fcap_decide": (c_status, [P, P, SZ, P, SZ, P]),
    "crm_fcap_prune": (c_status, [P, ctypes.c_int64]),
    "crm_fcap_horizon": (ctypes.c_int64, [P]),
    "crm_fcap_customers": (SZ, [P]),
    "crm_fcap_events": (SZ, [P]),
    "crm_fcap_memory": (SZ, [P]),
    "crm_fcap_sequence": (ctypes.c_uint64, [P]),
    "crm_fcap_set_userdata": (c_status, [P, ctypes.c_char_p, SZ]),
    "crm_fcap_userdata": (P, [P, ctypes.POINTER(SZ)]),
    "crm_fcap_save": (c_status, [P, _PP, ctypes.POINTER(SZ)]),
    "crm_fcap_save_range": (c_status, [P, ctypes.c_uint64, ctypes.c_uint64, _PP,
                                           ctypes.POINTER(SZ)]),
    "crm_fcap_load": (c_status, [_PP, ctypes.c_char_p, SZ]),
    "crm_fcap_save_file": (c_status, [P, ctypes.c_char_p]),
    "crm_fcap_load_file": (c_status, [_PP, ctypes.c_char_p]),
    "crm_fcap_log_attach": (c_status, [P, ctypes.c_char_p, ctypes.c_int]),
    "crm_fcap_log_detach": (c_status, [P]),
    "crm_fcap_replay": (c_status, [P, ctypes.c_char_p, SZ]),
    "crm_fcap_replay_file": (c_status, [P, ctypes.c_char_p]),
})


def _hhmm(text, what, allow_24):
    try:
        h, m = str(text).split(":")
        h, m = int(h), int(m)
    except ValueError:
        raise RuleError(f"{what} = {text!r} is not HH:MM") from None
    sec = h * 3600 + m * 60
    if not (0 <= m < 60 and (0 <= sec < 86400 or (allow_24 and sec == 86400))):
        raise RuleError(f"{what} = {text!r} is outside 00:00..{'24:00' if allow_24 else '23:59'}")
    return sec


def _split(value):
    """A '|' list from a CSV cell or a Python sequence."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v for v in value.split("|") if v != ""] if value else []
    return list(value)


def _blank(value):
    return value is None or (isinstance(value, str) and value.strip() == "")


def _int(value, what):
    try:
        if isinstance(value, str):
            return int(value.strip())
        if isinstance(value, float):
            if not value.is_integer():
                raise ValueError
            return int(value)
        return int(value)
    except (TypeError, ValueError):
        raise DataError(f"{what} = {value!r} is not an integer") from None


class FrequencyCap:
    """A stateful frequency-cap engine.

    ``rules`` is a dict in the JSON shape of ``specs/fcap.md`` (``caps``,
    ``channels``, ``categories``, ``quiet_hours``, ``simultaneous``,
    ``prefer_preferred_channel``, ``week_start``; unknown keys such as
    ``comment`` and ``version`` are ignored).
    """

    def __init__(self, rules, *, _handle=None, _tags=None):
        self._h = None
        if isinstance(rules, str):
            rules = json.loads(rules)
        self.rules = json.loads(json.dumps(rules))  # a private copy
        self.channels = list(self.rules.get("channels", DEFAULT_CHANNELS))
        self._ch = {name: i for i, name in enumerate(self.channels)}
        if len(self._ch) != len(self.channels):
            raise RuleError("rules.channels has a repeated name")
        self._tags = list(_tags or [])
        self._tag = {name: i for i, name in enumerate(self._tags)}
        self._dirty = _handle is None  # names not yet stored in the engine
        self.cap_ids = [str(c.get("id", i)) for i, c in enumerate(self.rules.get("caps", []))]
        c_rules, self._keep = self._compile()
        if _handle is not None:
            self._h = P(_handle)
        else:
            h = P()
            lib.crm_fcap_new(ctypes.byref(h), ctypes.byref(c_rules))
            self._h = h

    # ---- rules -------------------------------------------------------------

    def _tag_id(self, name):
        name = str(name)
        tid = self._tag.get(name)
        if tid is None:
            tid = self._tag[name] = len(self._tags)
            self._tags.append(name)
            self._dirty = True
        return tid

    def _mask(self, names, what, table):
        m = 0
        for n in names:
            if n not in table:
                raise RuleError(f"{what}: unknown name {n!r}")
            m |= 1 << table[n]
        return m

    def _compile(self):
        ru = self.rules
        r = _types.FcapRules()
        lib.crm_fcap_rules_init(ctypes.byref(r), 1)
        if not 1 <= len(self.channels) <= 64:
            raise RuleError("rules.channels: need 1..64 channels")
        r.n_channels = len(self.channels)
        cats = {c: i for i, c in enumerate(CATEGORIES)}
        for name, flags in (ru.get("categories") or {}).items():
            if name not in cats:
                raise RuleError(f"rules.categories: unknown category {name!r}")
            for flag in ("capped", "counts", "requires_consent"):
                if flag in flags:
                    getattr(r, flag)[cats[name]] = 1 if flags[flag] else 0
        caps = ru.get("caps") or []
        seen = set()
        arr = (_types.FcapCap * max(1, len(caps)))()
        for i, c in enumerate(caps):
            what = f"caps[{i}]"
            cid = str(c.get("id", ""))
            if not cid or cid in seen:
                raise RuleError(f"{what}.id = {cid!r} is empty or repeated")
            seen.add(cid)
            k = arr[i]
            scope = c.get("scope")
            if scope not in _SCOPES:
                raise RuleError(f"{what}.scope = {scope!r} is not one of {sorted(_SCOPES)}")
            k.scope = _SCOPES[scope]
            key = c.get("key")
            if scope == "global":
                k.key = _KEY_ANY
            elif key is None:
                raise RuleError(f"{what}: scope {scope} needs a key")
            elif key == "*":
                k.key = _KEY_ANY
            elif scope == "channel":
                if key not in self._ch:
                    raise RuleError(f"{what}.key: unknown channel {key!r}")
                k.key = self._ch[key]
            elif scope == "category":
                if key not in cats:
                    raise RuleError(f"{what}.key: unknown category {key!r}")
                k.key = cats[key]
            elif scope == "campaign":
                k.key = _int(key, f"{what}.key")
                if k.key < 0:
                    raise RuleError(f"{what}.key must be >= 0")
            else:
                k.key = self._tag_id(key)
            limit = c.get("limit")
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                raise RuleError(f"{what}.limit = {limit!r} must be an integer >= 0")
            k.limit = limit
            k.sliding = 1 if c.get("sliding", True) else 0
            window = c.get("window")
            if window == "month":
                if k.sliding:
                    raise RuleError(f"{what}: window \"month\" needs sliding false")
                k.window = 0
            elif isinstance(window, int) and not isinstance(window, bool) and window >= 1:
                k.window = window
            else:
                raise RuleError(f"{what}.window = {window!r} must be seconds >= 1 or \"month\"")
            tz = c.get("tz", "customer")
            if tz not in ("customer", "utc"):
                raise RuleError(f"{what}.tz = {tz!r} must be customer or utc")
            k.tz_utc = 1 if tz == "utc" else 0
            k.channels = (self._mask(c["channels"], f"{what}.channels", self._ch)
                          if c.get("channels") is not None else _ALL)
            k.categories = (self._mask(c["categories"], f"{what}.categories", cats)
                            if c.get("categories") is not None else 0xF)
        r.caps = ctypes.cast(arr, ctypes.POINTER(_types.FcapCap))
        r.n_caps = len(caps)
        quiet = ru.get("quiet_hours") or []
        qarr = (_types.FcapQuiet * max(1, len(quiet)))()
        self.quiet_ids = []
        for i, q in enumerate(quiet):
            what = f"quiet_hours[{i}]"
            self.quiet_ids.append(str(q.get("id", i)))
            qarr[i].start = _hhmm(q.get("start"), f"{what}.start", False)
            qarr[i].end = _hhmm(q.get("end"), f"{what}.end", True)
            qarr[i].channels = (self._mask(q["channels"], f"{what}.channels", self._ch)
                                if q.get("channels") is not None else _ALL)
            qarr[i].categories = (self._mask(q["categories"], f"{what}.categories", cats)
                                  if q.get("categories") is not None else 0xF)
        r.quiet = ctypes.cast(qarr, ctypes.POINTER(_types.FcapQuiet))
        r.n_quiet = len(quiet)
        sim = ru.get("simultaneous")
        if sim:
            gap, kmax = sim.get("gap"), sim.get("max_channels")
            if not (isinstance(gap, int) and gap >= 1 and isinstance(kmax, int) and kmax >= 1):
                raise RuleError("rules.simultaneous needs integer gap >= 1 and max_channels >= 1")
            r.sim_gap = gap
            r.sim_max = kmax
        r.prefer_preferred = 1 if ru.get("prefer_preferred_channel", False) else 0
        ws = ru.get("week_start", "monday")
        if ws not in ("monday", "sunday"):
            raise RuleError(f"rules.week_start = {ws!r} must be monday or sunday")
        r.week_sunday = 1 if ws == "sunday" else 0
        return r, (arr, qarr)

    # ---- rows ----------------------------------------------------------------

    def _channel(self, name, what):
        ch = self._ch.get(str(name))
        if ch is None:
            raise DataError(f"{what}: unknown channel {name!r}")
        return ch

    def _category(self, name, what):
        try:
            return CATEGORIES.index(str(name))
        except ValueError:
            raise DataError(f"{what}: unknown category {name!r}") from None

    def _events(self, rows):
        rows = list(rows)
        ev = (_types.FcapEvent * max(1, len(rows)))()
        tags = []
        for i, row in enumerate(rows):
            what = f"history[{i}]"
            e = ev[i]
            e.customer_id = _int(row["customer_id"], f"{what}.customer_id")
            e.t = _int(row["t"], f"{what}.t")
            e.channel = self._channel(row["channel"], what)
            e.campaign_id = _int(row["campaign_id"], f"{what}.campaign_id")
            e.category = self._category(row["category"], what)
            tl = _split(row.get("tags"))
            e.tag_off, e.tag_n = len(tags), len(tl)
            tags.extend(self._tag_id(t) for t in tl)
            counts = row.get("counts")
            e.counts = -1 if _blank(counts) else _int(counts, f"{what}.counts")
            if e.counts not in (-1, 0, 1):
                raise DataError(f"{what}.counts = {counts!r} must be 0 or 1")
            cand = row.get("cand_id")
            e.cand_id = _NO_CAND if _blank(cand) else _int(cand, f"{what}.cand_id")
        return ev, len(rows), (ctypes.c_uint32 * max(1, len(tags)))(*tags), len(tags)

    def _candidates(self, rows):
        rows = list(rows)
        cs = (_types.FcapCandidate * max(1, len(rows)))()
        tags = []
        for i, row in enumerate(rows):
            c = cs[i]
            c.cand_id = _int(row["cand_id"], f"candidates[{i}].cand_id")
            what = f"candidates[{i}] (cand_id {c.cand_id})"
            c.customer_id = _int(row["customer_id"], f"{what}.customer_id")
            c.t = _int(row["t"], f"{what}.t")
            c.campaign_id = _int(row["campaign_id"], f"{what}.campaign_id")
            c.category = self._category(row["category"], what)
            c.priority = _int(row["priority"], f"{what}.priority")
            try:
                c.value = float(row["value"])
            except (TypeError, ValueError):
                raise DataError(f"{what}.value = {row['value']!r} is not a number") from None
            if not math.isfinite(c.value):
                raise DataError(f"{what}.value = {row['value']!r} is not finite")
            chans = _split(row["channels"])
            if not 1 <= len(chans) <= 15:
                raise DataError(f"{what}: needs 1..15 channels, got {len(chans)}")
            for j, name in enumerate(chans):
                c.channels[j] = self._channel(name, what)
            c.n_channels = len(chans)
            off = row.get("utc_offset_min")
            c.utc_offset_min = 0 if _blank(off) else _int(off, f"{what}.utc_offset_min")
            consent = row.get("consent", "*")
            if consent is None or (isinstance(consent, str) and consent.strip() == "*"):
                c.consent = _ALL
            else:
                m = 0
                for name in _split(consent):
                    m |= 1 << self._channel(name, f"{what}.consent")
                c.consent = m
            pref = row.get("preferred")
            c.preferred = -1 if _blank(pref) else self._channel(pref, f"{what}.preferred")
            tl = _split(row.get("tags"))
            c.tag_off, c.tag_n = len(tags), len(tl)
            tags.extend(self._tag_id(t) for t in tl)
            ov = row.get("override")
            c.override = 0 if _blank(ov) else _int(ov, f"{what}.override")
        return cs, len(rows), (ctypes.c_uint32 * max(1, len(tags)))(*tags), len(tags)

    def _reason(self, code, arg):
        if code == 4:
            return "CAP:" + self.cap_ids[arg]
        if code == 6:
            return "OUTRANKED:" + self.cap_ids[arg]
        return _CODES[code]

    # ---- API -------------------------------------------------------------------

    def add_history(self, rows):
        """Add history rows (dicts with customer_id, t, channel, campaign_id,
        category and optional tags, counts, cand_id)."""
        ev, n, tags, nt = self._events(rows)
        self._store_names()
        lib.crm_fcap_add_history(self._h, ctypes.addressof(ev), n, ctypes.addressof(tags), nt)

    def add_history_records(self, events, tags=()):
        """Add ``crm_fcap_event`` records (numpy EVENT_DTYPE, read in place)
        whose tag_off/tag_n index ``tags`` (uint32 tag ids)."""
        addr, n, keep = as_records(events, _types.FcapEvent)
        taddr, nt, tkeep = _u32(tags)
        self._store_names()
        lib.crm_fcap_add_history(self._h, addr, n, taddr, nt)
        del keep, tkeep

    def decide(self, candidates):
        """Decide candidate dicts (the spec's candidate columns) and record
        the sends. Returns one dict per candidate, sorted by cand_id, with
        ``cand_id, customer_id, t, rank, decision ("SEND"/"REJECT"), channel
        ("" on REJECT), reason ("" on SEND), retry_at (None when empty),
        detail``."""
        cs, n, tags, nt = self._candidates(candidates)
        self._store_names()
        out = (_types.FcapDecision * max(1, n))()
        lib.crm_fcap_decide(self._h, ctypes.addressof(cs), n, ctypes.addressof(tags), nt,
                            ctypes.addressof(out))
        res = []
        for i in range(n):
            d, c = out[i], cs[i]
            detail = ";".join(f"{self.channels[d.tried[j]]}:{self._reason(d.detail[j], d.detail_arg[j])}"
                              for j in range(d.n_tried))
            res.append({"cand_id": c.cand_id, "customer_id": c.customer_id, "t": c.t,
                        "rank": d.rank, "decision": "SEND" if d.send else "REJECT",
                        "channel": self.channels[d.channel] if d.send else "",
                        "reason": "" if d.send else self._reason(d.reason, d.reason_arg),
                        "retry_at": None if d.retry_at == _NEVER else d.retry_at,
                        "detail": detail})
        res.sort(key=lambda r: r["cand_id"])
        return res

    def decide_records(self, candidates, tags=()):
        """Decide ``crm_fcap_candidate`` records (numpy CANDIDATE_DTYPE, read
        in place); returns a numpy array of DECISION_DTYPE (a ctypes array
        without numpy) in input order."""
        addr, n, keep = as_records(candidates, _types.FcapCandidate)
        taddr, nt, tkeep = _u32(tags)
        self._store_names()
        out = (_types.FcapDecision * max(1, n))()
        lib.crm_fcap_decide(self._h, addr, n, taddr, nt, ctypes.addressof(out))
        del keep, tkeep
        if DECISION_DTYPE is None:
            return out[:n]
        import numpy as np
        return np.frombuffer(out, dtype=DECISION_DTYPE, count=n).copy()

    def tag_id(self, name):
        """The integer id of a tag name (for record input)."""
        return self._tag_id(name)

    def channel_id(self, name):
        """The integer id of a channel name (for record input)."""
        return self._channel(name, "channel")

    def prune(self, now):
        """Drop events older than the longest window before ``now``; later
        decisions before ``now`` are refused."""
        lib.crm_fcap_prune(self._h, now)

    @property
    def horizon(self):
        """Seconds an event can matter (longest window, 31 days for month)."""
        return lib.crm_fcap_horizon(self._h)

    @property
    def customers(self):
        """Customers with stored events."""
        return lib.crm_fcap_customers(self._h)

    @property
    def events(self):
        """Stored events."""
        return lib.crm_fcap_events(self._h)

    @property
    def memory(self):
        """Heap bytes held by the engine."""
        return lib.crm_fcap_memory(self._h)

    @property
    def sequence(self):
        """State changes applied (the decision-log sequence number)."""
        return lib.crm_fcap_sequence(self._h)

    def _store_names(self):
        """Keep the names in the engine (saved with snapshots; a change is a
        logged state change, so a replayed log names its tags too)."""
        if not self._dirty:
            return
        blob = json.dumps({"rules": self.rules, "tags": self._tags}, sort_keys=True).encode()
        lib.crm_fcap_set_userdata(self._h, blob, len(blob))
        self._dirty = False

    def to_bytes(self, lo=0, hi=(1 << 64) - 1):
        """Snapshot (rules, names, state) as bytes; ``lo``/``hi`` restrict it
        to a customer-id range (a partition for another engine)."""
        self._store_names()
        p, n = P(), SZ()
        lib.crm_fcap_save_range(self._h, lo, hi, ctypes.byref(p), ctypes.byref(n))
        try:
            return ctypes.string_at(p, n.value)
        finally:
            lib.crm_bytes_free(p)

    def save(self, path):
        """Write a snapshot file atomically (temp file, fsync, rename)."""
        self._store_names()
        lib.crm_fcap_save_file(self._h, str(path).encode())

    @classmethod
    def _from_handle(cls, h):
        n = SZ()
        addr = lib.crm_fcap_userdata(h, ctypes.byref(n))
        if not addr or not n.value:
            lib.crm_fcap_free(h)
            raise DataError("snapshot has no names (not written by the Python binding)")
        meta = json.loads(ctypes.string_at(addr, n.value).decode())
        return cls(meta["rules"], _handle=h.value, _tags=meta["tags"])

    @classmethod
    def load(cls, path):
        """Engine from a snapshot file written by :meth:`save`."""
        h = P()
        lib.crm_fcap_load_file(ctypes.byref(h), str(path).encode())
        return cls._from_handle(h)

    @classmethod
    def from_bytes(cls, data):
        """Engine from :meth:`to_bytes` output."""
        h = P()
        lib.crm_fcap_load(ctypes.byref(h), bytes(data), len(data))
        return cls._from_handle(h)

    def attach_log(self, path, sync=True):
        """Append every later state change to the decision log ``path``."""
        lib.crm_fcap_log_attach(self._h, str(path).encode(), 1 if sync else 0)

    def detach_log(self):
        """Stop logging."""
        lib.crm_fcap_log_detach(self._h)

    def replay(self, path):
        """Apply a decision log file (records newer than this engine)."""
        lib.crm_fcap_replay_file(self._h, str(path).encode())
        n = SZ()
        addr = lib.crm_fcap_userdata(self._h, ctypes.byref(n))
        if addr and n.value:  # the log may carry newer tag names
            meta = json.loads(ctypes.string_at(addr, n.value).decode())
            self._tags = list(meta["tags"])
            self._tag = {name: i for i, name in enumerate(self._tags)}

    def __del__(self):
        h = getattr(self, "_h", None)
        if h is not None and h.value:
            lib.crm_fcap_free(h)
            self._h = None

    def __repr__(self):
        return (f"FrequencyCap({len(self.cap_ids)} caps, {self.customers} customers, "
                f"{self.events} events)")


def _u32(tags):
    if hasattr(tags, "__array_interface__"):
        import numpy as np
        arr = np.ascontiguousarray(tags, dtype=np.uint32)
        return arr.__array_interface__["data"][0], len(arr), arr
    tl = list(tags)
    buf = (ctypes.c_uint32 * max(1, len(tl)))(*tl)
    return ctypes.addressof(buf), len(tl), buf


OUTPUT_COLUMNS = ("cand_id", "customer_id", "t", "rank", "decision", "channel", "reason",
                  "retry_at", "detail")


def fcap_decide_csv(candidates_csv, history_csv, rules_json, out_csv):
    """Decide the candidates CSV against the history CSV (may be None) with
    the rules (a JSON file path, or a dict) and write the output CSV of the
    spec (sorted by cand_id). Returns the number of candidates."""
    if isinstance(rules_json, dict):
        rules = rules_json
    else:
        with open(rules_json, encoding="utf-8") as fh:
            rules = json.load(fh)
    fc = FrequencyCap(rules)
    if history_csv is not None:
        with open(history_csv, newline="", encoding="utf-8") as fh:
            fc.add_history(csv.DictReader(fh))
    with open(candidates_csv, newline="", encoding="utf-8") as fh:
        rows = fc.decide(csv.DictReader(fh))
    with open(out_csv, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(OUTPUT_COLUMNS)
        for r in rows:
            w.writerow(["" if r[k] is None else r[k] for k in OUTPUT_COLUMNS])
    return len(rows)
