
import os

# The supervisor forks (subprocess with preexec_fn) after its gRPC health probes. With grpc's
# fork support on, a fork while grpc's shutdown thread runs (the last probe channel just
# closed) deadlocks in grpc's prefork handler (seen with gdb: __run_prefork_handlers in
# cygrpc; holding a channel open instead made a child abort in one run). The launcher does not use
# gRPC across forks, so it turns fork support off before grpc is imported; the services it
# starts get the environment they were given (GRPC_FORK_MARK tells _spawn to undo this).
GRPC_FORK_MARK = "AISMESH_LAUNCHER_GRPC_FORK_OFF"
if "GRPC_ENABLE_FORK_SUPPORT" not in os.environ:
    os.environ["GRPC_ENABLE_FORK_SUPPORT"] = "false"
    os.environ[GRPC_FORK_MARK] = "1"
