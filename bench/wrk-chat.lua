-- wrk script: the same chat completion request `bench/overhead.sh` sends through pacer.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer sk-bench-not-a-real-key"
wrk.body = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Does CVE-2021-12345 exist? Answer yes or no."}],"max_tokens":16}'
