// orval's custom fetch (override.mutator): prefixes the server's origin, the
// one base URL of every operation, and returns orval's {data, status,
// headers} shape. Config, not generated code.
export const baseUrl = { current: process.env["SESSIOND_URL"] ?? "" };

export const customFetch = async <T>(url: string, options: RequestInit): Promise<T> => {
  const res = await fetch(`${baseUrl.current}${url}`, options);
  const text = [204, 205, 304].includes(res.status) ? "" : await res.text();
  const data = text && (res.headers.get("content-type") ?? "").includes("json") ? JSON.parse(text) : text;
  return { data, status: res.status, headers: res.headers } as T;
};
