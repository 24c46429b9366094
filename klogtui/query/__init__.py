"""The query language, headless: text -> AST -> canonical text (the store compiles it to SQL)."""
