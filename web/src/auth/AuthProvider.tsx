import { createContext, useCallback, useEffect, useMemo, useState, type ReactNode } from "react";
import { api, getToken, onUnauthorized, setToken } from "../api/client";
import type { LoginReply, User } from "../api/types";

export interface AuthState {
  /** The signed-in user, or null. */
  user: User | null;
  /** True until the first `GET /api/me` answered (or there was no token). */
  loading: boolean;
  isAdmin: boolean;
  isApproved: boolean;
  login: (email: string, password: string) => Promise<User>;
  logout: () => void;
  /** Re-read `GET /api/me` (e.g. after the profile changed). */
  refresh: () => Promise<void>;
  setUser: (user: User) => void;
}

export const AuthContext = createContext<AuthState | null>(null);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User | null>(null);
  const [loading, setLoading] = useState<boolean>(() => getToken() !== null);

  const refresh = useCallback(async () => {
    if (!getToken()) {
      setUser(null);
      setLoading(false);
      return;
    }
    try {
      setUser(await api<User>("GET", "/api/me"));
    } catch {
      setUser(null);
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void refresh();
    return onUnauthorized(() => setUser(null));
  }, [refresh]);

  const login = useCallback(async (email: string, password: string) => {
    const reply = await api<LoginReply>("POST", "/api/auth/login", { email, password });
    setToken(reply.access_token);
    setUser(reply.user);
    return reply.user;
  }, []);

  const logout = useCallback(() => {
    setToken(null);
    setUser(null);
  }, []);

  const value = useMemo<AuthState>(
    () => ({
      user,
      loading,
      isAdmin: user?.role === "admin",
      isApproved: user?.status === "approved",
      login,
      logout,
      refresh,
      setUser,
    }),
    [user, loading, login, logout, refresh],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
