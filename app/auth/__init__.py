"""Staff and driver accounts: sign-in, roles, sessions, the audit log."""
