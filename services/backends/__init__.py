"""Backend adapters: one gRPC service per provider in ``services/backends/<provider>/``, behind
``protos/backend.proto``. None is built yet (see the README's "Not done yet")."""
