"""The workspace: which files go with a cell (`files`), pushing and pulling them
(`sync`), and the encrypted job secrets (`envstore`)."""
