-- wrk script: the owner API's "give me a merge link for this client to bot B", the same request
-- over and over (each answer is a new link). The client and the key come from the URL and -H.
wrk.method = "POST"
wrk.body = '{"client_type":1,"tag":"Welcome to B","group":"botb"}'
wrk.headers["content-type"] = "application/json"
