// @hey-api/openapi-ts: the fetch client (@hey-api/client-fetch), SDK
// functions and types, from ../../openapi.yaml, into gen/hey-api (generated at
// test time, gitignored). Nothing else is configured: this is what a team
// gets from the documented defaults.
export default {
  input: "../../openapi.yaml",
  output: "gen/hey-api",
  plugins: ["@hey-api/client-fetch", "@hey-api/typescript", "@hey-api/sdk"],
};
