// Interleaved read-bandwidth probe vs lm_head GEMV (see run.sh).
#include "lingkernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double wall(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){ int th=atoi(argv[1]); int dt=atoi(argv[2]); lk_pool*p=lk_pool_create(th,0);
 size_t n=(size_t)1<<30; uint8_t*b=aligned_alloc(64,n); memset(b,1,n);
 int O=157184,In=2048; size_t esz=dt==0?4:2; if(dt==0)O=O/2; size_t wb=O*(size_t)In*esz; uint8_t*w=aligned_alloc(64,wb); memset(w,0x3c,wb);
 float*x=malloc(In*4); for(int i=0;i<In;i++)x[i]=i*0.001f; float*y=malloc(O*4);
 for(int r=0;r<4;r++){ double t0=wall(); lk_read_parallel(p,b,n); double t1=wall(); lk_linear_parallel(p,y,O,x,In,w,dt,NULL,1,In,O); double t2=wall();
  printf("threads %d: read %.1f GB/s, GEMV [%dx%d] dt=%d %.1f GB/s (%.0f%%)\n",th,n/(t1-t0)/1e9,O,In,dt,wb/(t2-t1)/1e9,100*(wb/(t2-t1))/(n/(t1-t0)));}
}
