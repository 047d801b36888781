// A module whose import fails: the client reports it through /runtime/init/error.
throw new Error("init failed on purpose");
export const handler = async () => "unreachable";
