#!/usr/bin/env python3
"""Cross-check of test/helpers/rees46-cart-expectations.ts, straight from the REES46 CSV.

Replays the sample log into carts and orders (one open cart per user, `r46-cart-<user>-<n>`;
purchase rows of a (user, session) = one order placed at the last of them, converting the
user's open cart) and applies the abandoned-cart rules at four run clocks. Stdlib only.

Usage: python3 scripts/check-rees46-carts.py [csv-path] [--json]
"""

import csv
import json
import re
import sys
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path

DEFAULT_CSV = (
    Path(__file__).resolve().parent.parent
    / "test/fixtures/rees46-2019-10-01-first-17434-events.csv"
)
CLOCKS = [
    "2019-10-01T10:00:00Z",
    "2019-10-02T10:00:00Z",
    "2019-10-04T10:00:00Z",
    "2019-10-01T21:30:00Z",
]
STAGES = [(1, timedelta(hours=2)), (2, timedelta(hours=24)), (3, timedelta(hours=72))]
MIN_IDLE = timedelta(hours=2)
MAX_IDLE = timedelta(hours=168)

TIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2}) UTC$")
DIGITS = re.compile(r"^\d+$")
PRICE_RE = re.compile(r"^\d+(\.\d*)?$")


def parse_time(text):
    m = TIME_RE.match(text.strip())
    if not m:
        return None
    try:
        return datetime(*map(int, m.groups()), tzinfo=timezone.utc)
    except ValueError:
        return None


def parse_cents(text):
    text = text.strip()
    if not PRICE_RE.match(text):
        return None
    try:
        d = Decimal(text)
    except InvalidOperation:
        return None
    return int((d * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def load_rows(path):
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = []
        dropped = Counter()
        for i, rec in enumerate(reader):
            kind = (rec.get("event_type") or "").strip()
            if kind not in ("view", "cart", "purchase"):
                dropped["type"] += 1
                continue
            t = parse_time(rec.get("event_time") or "")
            cents = parse_cents(rec.get("price") or "")
            product = (rec.get("product_id") or "").strip()
            user = (rec.get("user_id") or "").strip()
            session = (rec.get("user_session") or "").strip()
            if t is None or cents is None or not DIGITS.match(product) or not DIGITS.match(user):
                dropped["unreadable"] += 1
                continue
            if not session:
                dropped["no session"] += 1
                continue
            rows.append(dict(i=i, t=t, kind=kind, product=product, cents=cents, user=user,
                             session=session))
    rows.sort(key=lambda r: r["t"])  # stable: ties keep file order
    return rows, dropped


def replay(rows):
    """Whole-log replay: carts (with conversion time) and each user's order times."""
    last_purchase = {}
    for r in rows:
        if r["kind"] == "purchase":
            last_purchase[(r["user"], r["session"])] = r["i"]
    carts, open_cart, n_carts = [], {}, Counter()
    orders = defaultdict(list)  # user -> [placed_at]
    for r in rows:
        u = r["user"]
        if r["kind"] == "cart":
            c = open_cart.get(u)
            if c is None:
                n_carts[u] += 1
                c = dict(id=f"r46-cart-{u}-{n_carts[u]}", user=u, lines={}, total=0, units=0,
                         first=r["t"], last=r["t"], converted=None)
                open_cart[u] = c
                carts.append(c)
            key = (r["product"], r["cents"])
            c["lines"][key] = c["lines"].get(key, 0) + 1
            c["total"] += r["cents"]
            c["units"] += 1
            c["last"] = r["t"]
        elif r["kind"] == "purchase" and last_purchase[(u, r["session"])] == r["i"]:
            orders[u].append(r["t"])
            c = open_cart.pop(u, None)
            if c is not None:
                c["converted"] = r["t"]
    return carts, orders, open_cart


def last_sunday(year, month):
    d = datetime(year, month + 1, 1, tzinfo=timezone.utc) - timedelta(days=1)
    return d - timedelta(days=(d.weekday() - 6) % 7)


def _london_zone():
    try:
        from zoneinfo import ZoneInfo
        return ZoneInfo("Europe/London")
    except (ImportError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return None


def london_hour(instant):
    """UK rule: BST (UTC+1) from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
    last Sunday of October; GMT otherwise."""
    y = instant.year
    start = last_sunday(y, 3).replace(hour=1)
    end = last_sunday(y, 10).replace(hour=1)
    offset = timedelta(hours=1) if start <= instant < end else timedelta(0)
    hour = (instant + offset).hour
    zone = _london_zone()
    if zone is not None:  # second opinion from the tz database, when the system has it
        assert instant.astimezone(zone).hour == hour, instant
    return hour


def run(carts, orders, clock):
    quiet = london_hour(clock) >= 21 or london_hour(clock) < 8
    out = dict(candidates=0, dueByStage={1: 0, 2: 0, 3: 0},
               skippedBy=dict(zeroTotal=0, orderedSince=0, quietHours=0),
               toSend=0, totalCartValueCents=0, itemUnits=0, cartIds=[])
    for c in carts:
        if c["converted"] is not None and c["converted"] <= clock:
            continue
        if c["first"] > clock:
            continue
        idle = clock - c["last"]
        if not (MIN_IDLE <= idle < MAX_IDLE):
            continue
        out["candidates"] += 1
        stage = max(s for s, delay in STAGES if delay <= idle)
        out["dueByStage"][stage] += 1
        if c["units"] == 0 or c["total"] == 0:
            out["skippedBy"]["zeroTotal"] += 1
        elif any(c["last"] <= t <= clock for t in orders[c["user"]]):
            out["skippedBy"]["orderedSince"] += 1
        elif quiet:
            out["skippedBy"]["quietHours"] += 1
        else:
            out["toSend"] += 1
            out["totalCartValueCents"] += c["total"]
            out["itemUnits"] += c["units"]
            out["cartIds"].append(c["id"])
    out["cartIds"].sort()
    return out


def stats(rows, dropped, carts, orders, open_cart):
    cart_rows = [r for r in rows if r["kind"] == "cart"]
    open_carts = [c for c in carts if c["converted"] is None]
    n_orders = sum(len(v) for v in orders.values())
    open_per_user = Counter(c["user"] for c in open_carts)
    ordered_after = [c["id"] for c in open_carts if any(t >= c["last"] for t in orders[c["user"]])]
    # Orders placed in the same second as a cart row of the same user (tie-order sensitive).
    cart_secs = {(r["user"], r["t"]) for r in cart_rows}
    same_second = sorted({(u, t.isoformat()) for u, ts in orders.items() for t in ts
                          if (u, t) in cart_secs})
    buckets = Counter(c["last"].strftime("%H:") + f"{c['last'].minute // 15 * 15:02d}"
                      for c in open_carts)
    fmt = "%Y-%m-%d %H:%M:%S"
    return {
        "rowsKept": len(rows),
        "rowsDropped": dict(dropped),
        "rowsByType": dict(Counter(r["kind"] for r in rows)),
        "cartRows": len(cart_rows),
        "firstCartRow": cart_rows[0]["t"].strftime(fmt) if cart_rows else None,
        "lastCartRow": cart_rows[-1]["t"].strftime(fmt) if cart_rows else None,
        "customersWithCartOrPurchase": len({r["user"] for r in rows if r["kind"] != "view"}),
        "orders": n_orders,
        "cartsTotal": len(carts),
        "cartsConverted": sum(1 for c in carts if c["converted"] is not None),
        "cartsOpenAtEnd": len(open_carts),
        "usersWithMoreThanOneCart": sum(1 for v in Counter(c["user"] for c in carts).values()
                                        if v > 1),
        "usersWithTwoOpenCarts": [u for u, n in open_per_user.items() if n > 1],
        "openCartsWithOrderAfterLastActivity": ordered_after,
        "ordersInSameSecondAsUsersCartRow": same_second,
        "openCartsLastActivityUTC15min": dict(sorted(buckets.items())),
        "openCartsLastActivityRange": [min(c["last"] for c in open_carts).strftime(fmt),
                                       max(c["last"] for c in open_carts).strftime(fmt)]
        if open_carts else None,
        "openCartsValueCents": sum(c["total"] for c in open_carts),
        "openCartsUnits": sum(c["units"] for c in open_carts),
        "openCartsZeroTotal": sum(1 for c in open_carts if c["total"] == 0),
        "consistency": open_cart.keys() == {c["user"] for c in open_carts},
    }


def main(argv):
    as_json = "--json" in argv
    args = [a for a in argv if a != "--json"]
    path = Path(args[0]) if args else DEFAULT_CSV
    rows, dropped = load_rows(path)
    carts, orders, open_cart = replay(rows)
    results = {}
    for iso in CLOCKS:
        clock = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        results[iso] = run(carts, orders, clock)
    st = stats(rows, dropped, carts, orders, open_cart)
    if as_json:
        print(json.dumps({"stats": st, "runs": results}, indent=1))
        return
    print("== log ==")
    for k, v in st.items():
        print(f"{k}: {v}")
    for iso, r in results.items():
        clock = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        print(f"\n== run at {iso} (London hour {london_hour(clock):02d}) ==")
        for k in ("candidates", "dueByStage", "skippedBy", "toSend", "totalCartValueCents",
                  "itemUnits"):
            print(f"{k}: {r[k]}")
        print(f"cartIds ({len(r['cartIds'])}): {r['cartIds']}")


if __name__ == "__main__":
    main(sys.argv[1:])
