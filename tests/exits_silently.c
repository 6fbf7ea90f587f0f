/**
 * \file
 * \brief A stand-in for a student's server that fails to start without a
 * word: it exits with code 1 before printing anything, as Wine does when it
 * cannot start a program. The harness must still blame the program
 * (tests/wine_start_test.sh).
 */
int main(void)
{
    return 1;
}
