raise SystemExit("remote code ran")
