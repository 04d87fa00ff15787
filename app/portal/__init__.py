"""The partner portal: a partner's people and their own account, under /portal."""
