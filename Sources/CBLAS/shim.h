// OpenBLAS's CBLAS header lives in different places per distribution.
#if __has_include(<cblas.h>)
#include <cblas.h>
#elif __has_include(<openblas/cblas.h>)
#include <openblas/cblas.h>
#elif __has_include(<x86_64-linux-gnu/openblas-pthread/cblas.h>)
#include <x86_64-linux-gnu/openblas-pthread/cblas.h>
#else
#error "cblas.h not found: install libopenblas-dev"
#endif
// Not declared by every cblas.h; provided by libopenblas.
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
