// The app code a frontend team writes with @sessiond/client: the only file
// the browser tests put into the app create-vite scaffolds (react-ts); the
// rest of the app, its tsconfig and its build are create-vite's, unedited.
import { useState, type FormEvent } from "react";
import { createSessiondClient } from "@sessiond/client";
import { SessionProvider, useSession } from "@sessiond/client/react";

// One client for the page, created outside render. VITE_SESSIOND_API is the
// API's origin (e.g. https://api.example.com); unset, the page's own origin.
const client = createSessiondClient({ baseUrl: import.meta.env.VITE_SESSIOND_API ?? window.location.origin });

function Session() {
  const session = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [whoami, setWhoami] = useState("");

  const signIn = async (e: FormEvent) => {
    e.preventDefault();
    await session.signIn(email, password).catch(() => undefined); // shown through session.error
  };
  const whoAmI = async () => {
    try {
      setWhoami((await session.client.me()).email);
    } catch {
      setWhoami("");
    }
  };

  return (
    <main>
      <p>
        status: <span data-testid="status">{session.status}</span>
      </p>
      <p>
        user: <span data-testid="user">{session.user?.email ?? ""}</span>
      </p>
      <p>
        error: <span data-testid="error">{session.error?.code ?? ""}</span>
      </p>
      {session.status === "signed-out" && (
        <form onSubmit={signIn}>
          <label>
            Email <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} />
          </label>
          <label>
            Password <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} />
          </label>
          <button type="submit">Sign in</button>
        </form>
      )}
      {session.status === "signed-in" && (
        <>
          <button onClick={whoAmI}>Who am I</button> <span data-testid="whoami">{whoami}</span>
          <button onClick={() => session.signOut().catch(() => undefined)}>Sign out</button>
        </>
      )}
    </main>
  );
}

export default function App() {
  return (
    <SessionProvider client={client}>
      <Session />
    </SessionProvider>
  );
}
