"""Finds the user's handler from `_HANDLER` ("module.function", nested packages as
"pkg.sub.module.function" or "pkg/sub/module.function") and maps failures to Lambda's
init error types."""

import importlib
import sys

from . import fault


def load_handler(handler):
    modname, dot, fname = handler.rpartition(".")
    if not dot or not modname or not fname:
        raise fault.FaultError(fault.MALFORMED_HANDLER_NAME,
                               "Bad handler '%s': not enough values to unpack (expected 2, got 1)" % handler)
    if modname.split(".")[0] in sys.builtin_module_names:
        raise fault.FaultError(fault.BUILT_IN_MODULE_CONFLICT,
                               "Cannot use built-in module %s as a handler module" % modname)
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise fault.FaultError(fault.IMPORT_MODULE_ERROR,
                               "Unable to import module '%s': %s" % (modname, e)) from None
    except SyntaxError as e:
        trace = ["  File \"%s\" Line %s\n    %s" % (e.filename, e.lineno, e.text)]
        raise fault.FaultError(fault.USER_CODE_SYNTAX_ERROR,
                               "Syntax error in module '%s': %s" % (modname, e), trace) from None
    try:
        function = getattr(module, fname)
    except AttributeError:
        raise fault.FaultError(fault.HANDLER_NOT_FOUND,
                               "Handler '%s' missing on module '%s'" % (fname, modname)) from None
    return function
