#!/bin/sh
# An AWS_LAMBDA_EXEC_WRAPPER script: gets the interpreter and the runtime's script as its
# arguments, changes the environment, and runs them.
export WRAPPED_BY="wrapper.sh with $# arguments"
exec "$@"
