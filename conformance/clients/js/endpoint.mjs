// recordEndpoint notes where a client's requests go, as the SDK resolved
// the endpoint (from the config file, when the check is about that): the
// checks compare it with where the server listens.
export function recordEndpoint(client) {
  const seen = { to: "" };
  client.middlewareStack.add(
    (next) => async (args) => {
      seen.to = `${args.request.protocol}//${args.request.hostname}:${args.request.port}`;
      return next(args);
    },
    { step: "finalizeRequest" },
  );
  return seen;
}
