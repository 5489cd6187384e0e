/* plain_program.c - a program that never touches CUDA: it prints what it was given and a few
 * known lines, and exits 3. libflopmeter.so preloaded into it must change nothing. */
#include <stdio.h>

int main(int argc, char **argv)
{
    printf("plain program with %d arguments\n", argc - 1);
    for (int i = 1; i < argc; i++)
        printf("argument %d: %s\n", i, argv[i]);
    for (int i = 0; i < 3; i++)
        printf("line %d\n", i);
    return 3;
}
