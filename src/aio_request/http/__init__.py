"""The HTTP values a call is made of: request and its builders, URL building, response, the
propagation headers (the only place that formats or parses ``X-Request-*``), deadline, priority
and the context that carries them from a server handler to its outgoing calls."""
