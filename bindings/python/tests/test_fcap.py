"""libcrm.FrequencyCap against a brute-force reference written here from
specs/fcap.md (names, dicts, datetime calendar), plus persistence, CSV and
error cases."""
import calendar
import csv
import datetime
import json
import random

import pytest

import libcrm
from libcrm import FrequencyCap, fcap_decide_csv
from libcrm.errors import DataError, RuleError, StateError

EXAMPLE_RULES = {
    "caps": [
        {"id": "all_week", "limit": 6, "scope": "global", "sliding": True, "window": 604800},
        {"channels": ["email"], "id": "email_sender_week", "key": "*", "limit": 4,
         "scope": "tag", "sliding": True, "window": 604800},
        {"id": "promo_day", "key": "promo", "limit": 1, "scope": "category", "sliding": False,
         "window": 86400},
        {"id": "campaign_once", "key": "*", "limit": 1, "scope": "campaign", "sliding": True,
         "window": 604800},
        {"id": "call_month", "key": "call", "limit": 1, "scope": "channel", "sliding": False,
         "window": "month"},
    ],
    "categories": {"service": {"capped": False, "counts": False, "requires_consent": True}},
    "channels": ["email", "sms", "push", "telegram", "viber", "whatsapp", "social_ads", "call"],
    "comment": "example of the spec",
    "prefer_preferred_channel": True,
    "quiet_hours": [{"categories": ["promo", "content", "trigger"], "end": "09:00", "id": "night",
                     "start": "21:00"}],
    "simultaneous": {"gap": 3600, "max_channels": 2},
    "version": 1,
    "week_start": "monday",
}

CATS = ("promo", "content", "trigger", "service")
T0 = 1717416000  # 2024-06-03 12:00 UTC, Monday


# ---- reference -----------------------------------------------------------------

class Ref:
    """The spec, read literally: every check scans the whole event list."""

    def __init__(self, rules):
        self.r = rules
        flags = {c: {"capped": c != "service", "counts": c != "service", "requires_consent": True}
                 for c in CATS}
        for c, f in (rules.get("categories") or {}).items():
            flags[c].update(f)
        self.flags = flags
        self.events = []

    def add_history(self, rows):
        for h in rows:
            counts = h.get("counts", "")
            self.events.append({
                "cust": int(h["customer_id"]), "t": int(h["t"]), "ch": h["channel"],
                "camp": int(h["campaign_id"]), "cat": h["category"],
                "tags": set(t for t in str(h.get("tags", "") or "").split("|") if t),
                "counts": self.flags[h["category"]]["counts"] if counts in ("", None) else int(counts) == 1,
                "cand": None if h.get("cand_id", "") in ("", None) else int(h["cand_id"]),
                "batch": None})

    def index(self, cap, x, off):
        o = 0 if cap.get("tz", "customer") == "utc" else off
        if cap["window"] == "month":
            d = datetime.datetime(1970, 1, 1) + datetime.timedelta(seconds=x + o)
            return 12 * d.year + d.month - 1
        a = 259200 if self.r.get("week_start") == "sunday" else 345600
        return (x + o - a) // cap["window"]

    def next_start(self, cap, t, off):
        o = 0 if cap.get("tz", "customer") == "utc" else off
        i = self.index(cap, t, off) + 1
        if cap["window"] == "month":
            y, m = divmod(i, 12)
            return calendar.timegm((y, m + 1, 1, 0, 0, 0)) - o
        a = 259200 if self.r.get("week_start") == "sunday" else 345600
        return i * cap["window"] + a - o

    def cap_check(self, cap, c, ch, t, off, excl):
        """(fails, retry) of a cap."""
        scope, key = cap["scope"], cap.get("key")
        if cap.get("channels") is not None and ch not in cap["channels"]:
            return False, None
        if cap.get("categories") is not None and c["category"] not in cap["categories"]:
            return False, None
        if scope == "channel" and key != "*" and ch != key:
            return False, None
        if scope == "campaign" and key != "*" and int(c["campaign_id"]) != int(key):
            return False, None
        if scope == "category" and key != "*" and c["category"] != key:
            return False, None
        if scope == "tag":
            if key == "*":
                tags = sorted(c["tags"])
            elif key in c["tags"]:
                tags = [key]
            else:
                tags = []
            if not tags:
                return False, None
        else:
            tags = [None]
        for tag in tags:
            times = []
            for e in self.events:
                if e["cust"] != c["customer_id"] or not e["counts"] or e["t"] > t:
                    continue
                if excl and e["batch"] == t:
                    continue
                if cap.get("channels") is not None and e["ch"] not in cap["channels"]:
                    continue
                if cap.get("categories") is not None and e["cat"] not in cap["categories"]:
                    continue
                if scope == "channel" and e["ch"] != (ch if key == "*" else key):
                    continue
                if scope == "campaign" and e["camp"] != int(c["campaign_id"]):
                    continue
                if scope == "category" and e["cat"] != (c["category"] if key == "*" else key):
                    continue
                if scope == "tag" and tag not in e["tags"]:
                    continue
                if cap["sliding"]:
                    if not t - cap["window"] < e["t"]:
                        continue
                elif self.index(cap, e["t"], off) != self.index(cap, t, off):
                    continue
                times.append(e["t"])
            n = len(times)
            if n + 1 > cap["limit"]:
                if cap["limit"] == 0:
                    return True, None
                if cap["sliding"]:
                    return True, sorted(times)[n - cap["limit"]] + cap["window"]
                return True, self.next_start(cap, t, off)
        return False, None

    def sim_check(self, c, ch, t, excl):
        sim = self.r["simultaneous"]
        last = {}
        for e in self.events:
            if (e["cust"] == c["customer_id"] and e["counts"] and t - sim["gap"] < e["t"] <= t
                    and not (excl and e["batch"] == t)):
                last[e["ch"]] = max(last.get(e["ch"], e["t"]), e["t"])
        if ch in last or len(last) < sim["max_channels"]:
            return False, None
        return True, sorted(last.values())[len(last) - sim["max_channels"]] + sim["gap"]

    def check(self, c, ch):
        t, off = c["t"], 60 * c["utc_offset_min"]
        if any(e["cand"] == c["cand_id"] and e["t"] <= t for e in self.events):
            return "ALREADY_SENT", None
        if self.flags[c["category"]]["requires_consent"] and c["consent"] != "*" and ch not in c["consent"]:
            return "NO_CONSENT", None
        s = (t + off) % 86400
        for q in self.r.get("quiet_hours", []):
            if q.get("channels") is not None and ch not in q["channels"]:
                continue
            if q.get("categories") is not None and c["category"] not in q["categories"]:
                continue
            a = int(q["start"][:2]) * 3600 + int(q["start"][3:]) * 60
            b = int(q["end"][:2]) * 3600 + int(q["end"][3:]) * 60
            if (a < b and a <= s < b) or (a > b and (s >= a or s < b)):
                if a == 0 and b == 86400:
                    return "QUIET_HOURS", None
                return "QUIET_HOURS", t + ((b - s) % 86400 or 86400)
        if not self.flags[c["category"]]["capped"] or c["override"]:
            return "OK", None
        for cap in self.r.get("caps", []):
            fails, retry = self.cap_check(cap, c, ch, t, off, False)
            if fails:
                again, _ = self.cap_check(cap, c, ch, t, off, True)
                return ("CAP:" if again else "OUTRANKED:") + cap["id"], retry
        if self.r.get("simultaneous"):
            fails, retry = self.sim_check(c, ch, t, False)
            if fails:
                again, _ = self.sim_check(c, ch, t, True)
                return "SIMULTANEOUS" if again else "OUTRANKED:SIMULTANEOUS", retry
        return "OK", None

    def decide(self, cands):
        out = []
        for t in sorted({c["t"] for c in cands}):
            for cust in sorted({c["customer_id"] for c in cands if c["t"] == t}):
                group = [c for c in cands if c["t"] == t and c["customer_id"] == cust]
                group.sort(key=lambda c: (-c["priority"], -c["value"], c["cand_id"]))
                for rank, c in enumerate(group, 1):
                    chans = list(c["channels"])
                    if self.r.get("prefer_preferred_channel") and c["preferred"] in chans:
                        chans.remove(c["preferred"])
                        chans.insert(0, c["preferred"])
                    detail, first, best, sent = [], None, None, None
                    for ch in chans:
                        reason, retry = self.check(c, ch)
                        detail.append(f"{ch}:{reason}")
                        first = first or reason
                        if reason == "OK":
                            sent = ch
                            self.events.append({"cust": cust, "t": t, "ch": ch,
                                                "camp": c["campaign_id"], "cat": c["category"],
                                                "tags": set(c["tags"]), "cand": c["cand_id"],
                                                "counts": self.flags[c["category"]]["counts"],
                                                "batch": t})
                            break
                        if retry is not None and (best is None or retry < best):
                            best = retry
                    out.append({"cand_id": c["cand_id"], "customer_id": cust, "t": t, "rank": rank,
                                "decision": "SEND" if sent else "REJECT", "channel": sent or "",
                                "reason": "" if sent else first,
                                "retry_at": None if sent else best, "detail": ";".join(detail)})
        return sorted(out, key=lambda r: r["cand_id"])


def as_row(c):
    """A candidate dict as CSV-like strings."""
    return {"cand_id": str(c["cand_id"]), "customer_id": str(c["customer_id"]), "t": str(c["t"]),
            "campaign_id": str(c["campaign_id"]), "category": c["category"],
            "priority": str(c["priority"]), "value": c["value_text"],
            "channels": "|".join(c["channels"]), "utc_offset_min": str(c["utc_offset_min"]),
            "consent": c["consent"] if c["consent"] == "*" else "|".join(c["consent"]),
            "preferred": c["preferred"] or "", "tags": "|".join(c["tags"]),
            "override": str(c["override"])}


def random_case(rng):
    chans = ["email", "sms", "push", "call"][:rng.randint(2, 4)]
    tagset = ["sender:a", "sender:b", "season:summer"]
    caps = []
    for i in range(rng.randint(0, 5)):
        scope = rng.choice(["global", "channel", "campaign", "category", "tag"])
        cap = {"id": f"c{i}", "scope": scope, "limit": rng.choice([0, 1, 1, 2, 3])}
        if rng.random() < 0.3:
            cap["sliding"], cap["window"] = False, "month"
        else:
            cap["sliding"] = rng.random() < 0.6
            cap["window"] = rng.choice([600, 3600, 86400, 604800, 2 * 86400])
        if not cap["sliding"] and rng.random() < 0.3:
            cap["tz"] = "utc"
        if scope != "global":
            cap["key"] = "*" if rng.random() < 0.5 else {
                "channel": rng.choice(chans), "campaign": rng.randint(0, 2),
                "category": rng.choice(CATS), "tag": rng.choice(tagset)}[scope]
        if rng.random() < 0.3:
            cap["channels"] = rng.sample(chans, rng.randint(1, len(chans)))
        if rng.random() < 0.3:
            cap["categories"] = rng.sample(CATS, rng.randint(1, 4))
        caps.append(cap)
    rules = {"channels": chans, "caps": caps, "week_start": rng.choice(["monday", "sunday"]),
             "prefer_preferred_channel": rng.random() < 0.5, "quiet_hours": []}
    for i in range(rng.randint(0, 2)):
        q = {"id": f"q{i}", "start": f"{rng.randint(0, 23):02d}:{rng.choice([0, 30]):02d}",
             "end": rng.choice(["24:00", f"{rng.randint(0, 23):02d}:00"])}
        if rng.random() < 0.5:
            q["categories"] = rng.sample(CATS, rng.randint(1, 4))
        if rng.random() < 0.3:
            q["channels"] = rng.sample(chans, 1)
        rules["quiet_hours"].append(q)
    if rng.random() < 0.7:
        rules["simultaneous"] = {"gap": rng.choice([1800, 3600, 7200]),
                                 "max_channels": rng.randint(1, 3)}
    if rng.random() < 0.5:
        rules["categories"] = {"service": {"capped": rng.random() < 0.5,
                                           "counts": rng.random() < 0.5,
                                           "requires_consent": rng.random() < 0.5}}
    base = T0 + rng.randint(-30, 30) * 86400
    custs = {}
    for cu in range(rng.randint(1, 5)):
        custs[cu * 1000003] = {"utc_offset_min": rng.choice([0, 180, -300, 330, -720, 840]),
                               "consent": "*" if rng.random() < 0.6 else rng.sample(chans, rng.randint(0, len(chans))),
                               "preferred": rng.choice([None] + chans)}
    hist = []
    for _ in range(rng.randint(0, 30)):
        hist.append({"customer_id": str(rng.choice(list(custs))),
                     "t": str(base - rng.randint(0, 35 * 86400)), "channel": rng.choice(chans),
                     "campaign_id": str(rng.randint(0, 2)), "category": rng.choice(CATS),
                     "tags": "|".join(rng.sample(tagset, rng.randint(0, 2))),
                     "counts": rng.choice(["", "", "0", "1"]),
                     "cand_id": rng.choice(["", "", "", str(rng.randint(0, 60))])})
    times = [base + rng.randint(0, 4 * 86400) for _ in range(4)]
    cands = []
    for i in range(rng.randint(1, 25)):
        cu = rng.choice(list(custs))
        vt = rng.choice(["1", "2.727", "-0.5", "1e3", "0", "2.7270"])
        cands.append({"cand_id": 3 * i + rng.randint(0, 2), "customer_id": cu,
                      "t": rng.choice(times), "campaign_id": rng.randint(0, 2),
                      "category": rng.choice(CATS), "priority": rng.randint(0, 2),
                      "value": float(vt), "value_text": vt,
                      "channels": rng.sample(chans, rng.randint(1, len(chans))),
                      "tags": rng.sample(tagset, rng.randint(0, 2)),
                      "override": int(rng.random() < 0.1), **custs[cu]})
    return rules, hist, cands


def test_reference_random():
    rng = random.Random(2024)
    reasons = set()
    for _ in range(250):
        rules, hist, cands = random_case(rng)
        fc = FrequencyCap(rules)
        fc.add_history(hist)
        got = fc.decide([as_row(c) for c in cands])
        ref = Ref(rules)
        ref.add_history(hist)
        want = ref.decide(cands)
        assert got == want
        reasons.update(r["reason"].split(":")[0] for r in got)
    assert {"", "ALREADY_SENT", "NO_CONSENT", "QUIET_HOURS", "CAP", "SIMULTANEOUS",
            "OUTRANKED"} <= reasons


def test_example_rows_of_the_spec():
    fc = FrequencyCap(EXAMPLE_RULES)
    fc.add_history([
        {"customer_id": "1", "t": "1715484960", "channel": "viber", "campaign_id": "12",
         "category": "content", "tags": "sender:a", "counts": "", "cand_id": ""},
        {"customer_id": "2", "t": "1715493960", "channel": "call", "campaign_id": "14",
         "category": "trigger", "tags": "sender:a|season:summer", "counts": "1", "cand_id": ""},
    ])
    out = fc.decide([
        {"cand_id": "348", "customer_id": "38", "t": "1717687020", "campaign_id": "12",
         "category": "content", "priority": "3", "value": "2.727", "channels": "call|push",
         "utc_offset_min": "-180", "consent": "email|sms|push|whatsapp|social_ads|call",
         "preferred": "", "tags": "sender:a", "override": "0"},
        {"cand_id": "9", "customer_id": "18", "t": "1717687020", "campaign_id": "11",
         "category": "promo", "priority": "1", "value": "1", "channels": "telegram",
         "utc_offset_min": "660", "consent": "*", "preferred": "email",
         "tags": "sender:b|season:summer", "override": "0"},
    ])
    # 1717687020 = 2024-06-06 15:17 UTC: 02:17 at +11:00 (quiet until 09:00
    # local = 22:00 UTC), 12:17 at -03:00 (not quiet)
    assert out == [
        {"cand_id": 9, "customer_id": 18, "t": 1717687020, "rank": 1, "decision": "REJECT",
         "channel": "", "reason": "QUIET_HOURS", "retry_at": 1717711200,
         "detail": "telegram:QUIET_HOURS"},
        {"cand_id": 348, "customer_id": 38, "t": 1717687020, "rank": 1, "decision": "SEND",
         "channel": "call", "reason": "", "retry_at": None, "detail": "call:OK"},
    ]


def test_save_load_and_ranges(tmp_path):
    rng = random.Random(7)
    rules, hist, cands = random_case(rng)
    rules["caps"].append({"id": "tagk", "scope": "tag", "key": "vip", "limit": 1,
                          "sliding": True, "window": 3600})
    fc = FrequencyCap(rules)
    fc.add_history(hist)
    half = len(cands) // 2
    fc.decide([as_row(c) for c in cands[:half]])
    path = tmp_path / "caps.snap"
    fc.save(path)
    back = FrequencyCap.load(path)
    assert back.to_bytes() == fc.to_bytes()
    assert back.rules == fc.rules and back.channels == fc.channels
    rest = [as_row(c) for c in cands[half:]]
    assert back.decide(rest) == fc.decide(rest)
    # ranges partition the state
    lo = FrequencyCap.from_bytes(fc.to_bytes(0, 2000000))
    hi = FrequencyCap.from_bytes(fc.to_bytes(2000001))
    assert lo.events + hi.events == fc.events
    assert lo.customers + hi.customers == fc.customers


def test_log_replay(tmp_path):
    rng = random.Random(11)
    rules, hist, cands = random_case(rng)
    fc = FrequencyCap(rules)
    snap, log = tmp_path / "s", tmp_path / "log"
    fc.save(snap)
    fc.attach_log(log, sync=False)
    fc.add_history(hist)
    fc.decide([as_row(c) for c in cands])
    fc.detach_log()
    back = FrequencyCap.load(snap)
    back.replay(log)
    assert back.to_bytes() == fc.to_bytes()
    assert back.sequence == fc.sequence
    data = log.read_bytes()
    log.write_bytes(data[:-3])
    again = FrequencyCap.load(snap)
    before = again.to_bytes()
    with pytest.raises(StateError, match="byte"):
        again.replay(log)
    assert again.to_bytes() == before


def test_csv_helper(tmp_path):
    rng = random.Random(5)
    rules, hist, cands = random_case(rng)
    cpath, hpath, rpath, opath = (tmp_path / n for n in ("c.csv", "h.csv", "r.json", "o.csv"))
    rows = [as_row(c) for c in cands]
    with open(cpath, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]) + ["extra"])
        w.writeheader()
        for r in rows:
            w.writerow({**r, "extra": "ignored"})
    with open(hpath, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["customer_id", "t", "channel", "campaign_id",
                                           "category", "tags", "counts", "cand_id"])
        w.writeheader()
        w.writerows(hist)
    rpath.write_text(json.dumps(rules))
    assert fcap_decide_csv(cpath, hpath, rpath, opath) == len(cands)
    ref = Ref(rules)
    ref.add_history(hist)
    want = ref.decide(cands)
    with open(opath, newline="") as fh:
        got = list(csv.DictReader(fh))
    assert [r["cand_id"] for r in got] == [str(r["cand_id"]) for r in want]
    for g, w in zip(got, want):
        assert g == {k: "" if v is None else str(v) for k, v in w.items()}


def test_records_numpy():
    np = pytest.importorskip("numpy")
    fc = FrequencyCap(EXAMPLE_RULES)
    c = np.zeros(3, dtype=libcrm.fcap.CANDIDATE_DTYPE)
    c["cand_id"] = [1, 2, 3]
    c["customer_id"] = [5, 5, 6]
    c["t"] = T0
    c["campaign_id"] = [1, 2, 1]
    c["category"] = 0  # promo
    c["priority"] = [1, 2, 0]
    c["consent"] = np.uint64((1 << 64) - 1)
    c["preferred"] = -1
    c["n_channels"] = 1
    c["channels"][:, 0] = fc.channel_id("email")
    d = fc.decide_records(c)
    assert list(d["send"]) == [0, 1, 1]
    assert list(d["rank"]) == [2, 1, 1]
    assert d["reason"][0] == 6 and fc.cap_ids[d["reason_arg"][0]] == "promo_day"
    assert fc.events == 2


def test_errors():
    with pytest.raises(RuleError, match="caps\\[0\\].scope"):
        FrequencyCap({"caps": [{"id": "x", "scope": "planet", "limit": 1, "window": 1}]})
    with pytest.raises(RuleError, match="window"):
        FrequencyCap({"caps": [{"id": "x", "scope": "global", "limit": 1, "sliding": True,
                                "window": "month"}]})
    with pytest.raises(RuleError, match="repeated"):
        FrequencyCap({"caps": [{"id": "x", "scope": "global", "limit": 1, "window": 9},
                               {"id": "x", "scope": "global", "limit": 1, "window": 9}]})
    with pytest.raises(RuleError, match="unknown channel"):
        FrequencyCap({"caps": [{"id": "x", "scope": "channel", "key": "fax", "limit": 1,
                                "window": 9}]})
    with pytest.raises(RuleError, match="HH:MM"):
        FrequencyCap({"quiet_hours": [{"id": "n", "start": "9pm", "end": "09:00"}]})
    fc = FrequencyCap(EXAMPLE_RULES)
    base = {"cand_id": 7, "customer_id": 1, "t": T0, "campaign_id": 1, "category": "promo",
            "priority": 1, "value": "1", "channels": "email"}
    with pytest.raises(DataError, match="cand_id 7.*unknown channel 'fax'"):
        fc.decide([{**base, "channels": "email|fax"}])
    with pytest.raises(DataError, match="cand_id 7.*repeated"):
        fc.decide([{**base, "channels": "email|email"}])
    with pytest.raises(DataError, match="cand_id 8.*disagree"):
        fc.decide([base, {**base, "cand_id": 8, "utc_offset_min": 60}])
    with pytest.raises(DataError, match="already used"):
        fc.decide([base, {**base, "campaign_id": 2}])
    with pytest.raises(DataError, match="not finite"):
        fc.decide([{**base, "value": "nan"}])
    with pytest.raises(DataError, match="history\\[0\\].*unknown category"):
        fc.add_history([{"customer_id": 1, "t": T0, "channel": "sms", "campaign_id": 1,
                         "category": "spam"}])
    assert fc.events == 0
    with pytest.raises(StateError):
        FrequencyCap.from_bytes(b"CRMB garbage")
    out = fc.decide([base])
    assert out[0]["decision"] == "SEND"
    # idempotent: the same cand_id again is ALREADY_SENT
    assert fc.decide([{**base, "t": T0 + 5}])[0]["reason"] == "ALREADY_SENT"
    assert "FrequencyCap(5 caps" in repr(fc)


def test_prune_horizon_and_tagged_records():
    np = pytest.importorskip("numpy")
    fc = FrequencyCap(EXAMPLE_RULES)
    assert fc.horizon == 31 * 86400  # the month cap is the longest window
    fc.add_history([{"customer_id": 1, "t": T0 - 40 * 86400, "channel": "sms",
                     "campaign_id": 1, "category": "content", "cand_id": 77},
                    {"customer_id": 1, "t": T0 - 86400, "channel": "sms",
                     "campaign_id": 2, "category": "content"}])
    assert (fc.customers, fc.events) == (1, 2)
    fc.prune(T0)
    assert (fc.customers, fc.events) == (1, 1)
    with pytest.raises(DataError, match="prune time"):
        fc.decide([{"cand_id": 5, "customer_id": 1, "t": T0 - 1, "campaign_id": 3,
                    "category": "content", "priority": 1, "value": 1, "channels": "email"}])
    # record input with tags: 4 emails from sender:b this week, then a fifth
    ev = np.zeros(4, dtype=libcrm.fcap.EVENT_DTYPE)
    ev["customer_id"] = 9
    ev["t"] = [T0 - k * 86400 for k in (1, 2, 3, 4)]
    ev["campaign_id"] = [10, 11, 12, 13]
    ev["cand_id"] = np.uint64((1 << 64) - 1)
    ev["channel"] = fc.channel_id("email")
    ev["category"] = 1
    ev["counts"] = -1
    ev["tag_off"] = 0
    ev["tag_n"] = 1
    b = fc.tag_id("sender:b")
    fc.add_history_records(ev, np.array([b], dtype=np.uint32))
    c = np.zeros(1, dtype=libcrm.fcap.CANDIDATE_DTYPE)
    c["cand_id"], c["customer_id"], c["t"], c["campaign_id"] = 6, 9, T0, 20
    c["category"], c["consent"], c["preferred"] = 1, np.uint64((1 << 64) - 1), -1
    c["n_channels"], c["tag_n"] = 1, 1
    c["channels"][:, 0] = fc.channel_id("email")
    d = fc.decide_records(c, np.array([b], dtype=np.uint32))
    assert d["send"][0] == 0 and d["reason"][0] == 4
    assert fc.cap_ids[d["reason_arg"][0]] == "email_sender_week"
    assert d["retry_at"][0] == T0 - 4 * 86400 + 604800
