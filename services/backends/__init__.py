"""Backend adapters: one gRPC service per provider behind protos/backend.proto.

Each adapter (``services/backends/<provider>/``) imports its vendor SDK and nothing else does;
``common.py`` holds what every adapter shares (the server scaffold, stream helpers, ranges).
"""
