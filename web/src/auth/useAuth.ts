import { useContext } from "react";
import { AuthContext, type AuthState } from "./AuthProvider";

/** `{user, loading, isAdmin, isApproved, login, logout, refresh, setUser}` */
export function useAuth(): AuthState {
  const ctx = useContext(AuthContext);
  if (!ctx) throw new Error("useAuth outside AuthProvider");
  return ctx;
}

export type { AuthState };
