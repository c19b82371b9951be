"""Prints generate.sh result lines for people: one labelled line per request, then a count."""
import json
import sys

total = ok = 0
for line in sys.stdin:
    r = json.loads(line)
    total += 1
    if "error" in r:
        err = r["error"]
        print(f"[{r['id']}] error {err['code']}: {err['message']}")
    else:
        ok += 1
        print(f"[{r['id']} base] {r['text']!r} ({len(r['token_ids'])} tokens, {r['finish_reason']})")
print(f"completed {ok}/{total} requests ({total - ok} refused with an error line)")
