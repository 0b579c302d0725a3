// Imported before onnxruntime-node, for its side effect: onnxruntime-node 1.30's Linux build carries Microsoft's
// telemetry, which writes a device id under ~/.cache/Microsoft/DeveloperTools and can upload events. A run uses no
// network and writes nothing outside --out and its cache (test/reliability.test.ts), so telemetry is off unless the
// user set ORT_DISABLE_TELEMETRY themselves. Child processes (benchmark workers) inherit the variable.
process.env.ORT_DISABLE_TELEMETRY ??= '1';
