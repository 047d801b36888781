// Embedding thaw: create a function, publish it (SnapStart: INIT runs once and is snapshotted),
// and invoke the published version, which starts restored from that snapshot.
//   thaw-embed-example DATA_DIR CODE_DIR     (CODE_DIR: e.g. PREFIX/share/thaw/examples/python-hello)
#include <thaw/engine.h>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: " << argv[0] << " DATA_DIR CODE_DIR\n";
    return 2;
  }
  thaw::EngineOptions options;
  options.data_dir = argv[1];
  options.on_log = [](const thaw::LogEvent& e) { std::cerr << e.function << ": " << e.line << "\n"; };
  try {
    thaw::Engine engine(options);
    thaw::FunctionSettings settings;
    settings.runtime = "python3.11";
    settings.snap_start = thaw::SnapStartApplyOn::kPublishedVersions;
    engine.create_function("hello", settings, {.directory = argv[2]});
    engine.wait_until_ready("hello");  // its image is built
    auto version = engine.publish_version("hello");
    engine.wait_until_ready("hello", version.version);  // INIT ran and was snapshotted

    auto result = engine.invoke({.function = "hello", .qualifier = version.version, .payload = R"({"from": "embed"})"});
    std::cout << result.payload << "\n";
    std::cout << "version " << result.executed_version << ", restored in " << result.report.restore_duration_ms
              << " ms, ran " << result.report.duration_ms << " ms\n";
    return result.function_error.empty() ? 0 : 1;
  } catch (const thaw::EngineError& e) {
    std::cerr << "thaw: " << thaw::lambda_exception_name(e.code()) << ": " << e.what() << "\n";
    return 1;
  }
}
