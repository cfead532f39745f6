"""The model kinds: one module per kind behind the interface of tabflow.models.base.

This file imports nothing, so loading one kind never pulls in another's dependencies."""
