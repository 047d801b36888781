"""The python3.11 runtime's entry, run by `bootstrap`: puts the runtime's own libraries (boto3,
botocore, simplejson, ...) on sys.path, then runs the runtime interface client, which sets up
sys.path for the function as AWS's launcher does."""
import os
import site
import sys

# Where the image builder puts the runtime's libraries, as AWS's python3.11 runtime keeps them.
# Added before the client is imported: the client's simplejson is the runtime's, never a copy
# the function vendors.
RUNTIME_SITE_PACKAGES = "/var/lang/lib/python3.11/site-packages"
if os.path.isdir(RUNTIME_SITE_PACKAGES):
    site.addsitedir(RUNTIME_SITE_PACKAGES)

from thaw_lambda_runtime.main import main  # noqa: E402

main()
