#!/usr/bin/env python3
"""loadpeople.py ADDR N: posts N people u0…u(N-1) to the edge at ADDR
(host:port, write key "wk") as /v1/batch requests of 500 identifies, each
with an e-mail, a name and two traits. Used by lookupsys.sh and reopen.sh."""
import json
import sys
import urllib.request

addr, n = sys.argv[1], int(sys.argv[2])
for lo in range(0, n, 500):
    batch = [{"type": "identify", "userId": "u%d" % i, "messageId": "m%d" % i,
              "traits": {"email": "u%d@example.com" % i, "name": "User %d" % i, "plan": "gold", "city": "Berlin"}}
             for i in range(lo, min(lo + 500, n))]
    req = urllib.request.Request("http://%s/v1/batch" % addr, data=json.dumps({"batch": batch}).encode(),
                                 headers={"Content-Type": "application/json", "X-Write-Key": "wk"})
    urllib.request.urlopen(req).read()
