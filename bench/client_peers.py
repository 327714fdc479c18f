#!/usr/bin/env python3
"""
@file bench/client_peers.py
@brief Peer for bench/client_bench.cpp: the same Cotter calls with Python `requests` (one keep-alive Session),
measuring this process's CPU time only (time.process_time). Prints one JSON line.

Usage: client_peers.py '<json config>' with base_url, api_key_id, api_secret_key, refresh_token, user_id,
refreshes, lists.
"""
import json
import subprocess
import sys
import time

try:
    import requests
except ImportError:  # the benchmark may install its peer; the tests never need it
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "requests"], check=True)
    import requests


def main():
    cfg = json.loads(sys.argv[1])
    base, key = cfg["base_url"], cfg["api_key_id"]
    s = requests.Session()
    s.trust_env = False  # loopback: no proxy lookups
    refresh_url = f"{base}/token/{key}"
    headers = {"API_KEY_ID": key, "Content-Type": "application/json"}
    rt = cfg["refresh_token"]

    def refresh(rt):
        r = s.post(refresh_url, headers=headers, data=json.dumps({"grant_type": "refresh_token", "refresh_token": rt}))
        r.raise_for_status()
        body = r.json()
        return body.get("refresh_token") or rt

    for _ in range(20):  # warm-up: connection, imports, caches
        rt = refresh(rt)
    t0 = time.process_time()
    for _ in range(cfg["refreshes"]):
        rt = refresh(rt)
    refresh_cpu = time.process_time() - t0

    list_url = f"{base}/oauth/token/list/{cfg['user_id']}"
    secret_headers = {"API_KEY_ID": key, "API_SECRET_KEY": cfg["api_secret_key"]}
    n = 0
    for _ in range(3):
        r = s.get(list_url, headers=secret_headers)
        r.raise_for_status()
        n = len(r.json())
    t0 = time.process_time()
    for _ in range(cfg["lists"]):
        r = s.get(list_url, headers=secret_headers)
        r.raise_for_status()
        n = len(r.json())
    list_cpu = time.process_time() - t0
    print(json.dumps({"peer": "requests", "refresh_cpu_s": refresh_cpu, "refreshes": cfg["refreshes"],
                      "list_cpu_s": list_cpu, "lists": cfg["lists"], "list_entries": n}))


if __name__ == "__main__":
    main()
