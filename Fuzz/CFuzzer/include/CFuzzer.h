// libFuzzer's driver, for fuzz targets whose `main` is their own: SwiftPM links an
// executable's main under another name (MODULE_main) and points `main` at it, which
// shadows libFuzzer's main, so the target's main calls the driver itself.
// Declared only; defined by libclang_rt.fuzzer when built with -sanitize=fuzzer.
#ifndef QNET_CFUZZER_H
#define QNET_CFUZZER_H
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
