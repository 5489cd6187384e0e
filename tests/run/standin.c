/* standin.c - what the run tests preload in a build with AddressSanitizer, where the real
 * libflopmeter.so carries the sanitizer runtime and cannot be preloaded into the programs the
 * tests run (sh, env, python3), which have none. The tests check what `flopmeter run` does,
 * which does not depend on what the preloaded library does. */
int flopmeter_run_standin(void);

int flopmeter_run_standin(void)
{
    return 0;
}
