"""Built-in rewards; each module registers its rewards on import."""
