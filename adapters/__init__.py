"""Backend adapters: one module per agent CLI, found by name through the registry.

Depends on ``orchestrator``'s public model types only; the core never imports
a module of this package directly (see ``orchestrator._registry``). Keep this
file free of imports so listing adapter names stays cheap.
"""
