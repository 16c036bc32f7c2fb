"""FlagEval gateway service: Users, sessions/JWT, roles, the public REST surface; routes to the other services."""
