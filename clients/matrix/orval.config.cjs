// orval: the fetch client with header parameters on (orval drops them
// unless `headers: true`), from ../../openapi.yaml into gen/orval (generated at
// test time, gitignored). The base URL is supplied at run time by orval's
// documented custom-fetch mutator (flows/orval-fetch.ts).
module.exports = {
  sessiond: {
    input: { target: "../../openapi.yaml" },
    output: {
      target: "gen/orval/sessiond.ts",
      client: "fetch",
      mode: "single",
      headers: true,
      override: {
        mutator: { path: "flows/orval-fetch.ts", name: "customFetch" },
      },
    },
  },
};
