/* count_records.c - reads a trace through the installed trace library and prints how many
 * records it holds and whether it verifies. */
#include <stdio.h>

#include <flopmeter/trace_verify.h>
#include <flopmeter/version.h>

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    fm_verify_result res;
    int rc = fm_verify_file(argv[1], NULL, &res);
    printf("flopmeter %s: %llu records, %s\n", FLOPMETER_VERSION,
           (unsigned long long)res.info.records, rc == FM_OK ? "intact" : res.message);
    return rc == FM_OK ? 0 : 1;
}
