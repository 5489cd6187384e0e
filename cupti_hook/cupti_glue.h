/* cupti_glue.h - connects CUPTI to the collector (see cupti_glue.c). */
#ifndef FM_HOOK_CUPTI_GLUE_H
#define FM_HOOK_CUPTI_GLUE_H

/* Starts the collector and subscribes to CUPTI. Called once CUDA is initialised (from
 * InitializeInjection). 0, or -1 when measuring could not start (degradation recorded). */
int fm_glue_start(void);

/* Flushes CUPTI's buffers and stops the collector (exit handlers). */
void fm_glue_stop(void);

#endif
