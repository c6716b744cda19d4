// Single-thread OpenBLAS sgemm vs lk_linear GEMM, wall and thread-CPU time (see run.sh).
#include "lingkernels.h"
#include <cblas.h>
#undef I
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
void openblas_set_num_threads(int);
static double wall(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static double cpu(){struct timespec t;clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  openblas_set_num_threads(1);
  int n=2048; float*a=malloc(n*n*4),*b=malloc(n*n*4),*c=malloc(n*n*4); for(int i=0;i<n*n;i++){a[i]=(i%17)*0.01f;b[i]=(i%13)*0.01f;}
  int O=atoi(argv[1]),I=atoi(argv[2]),T=atoi(argv[3]),dt=atoi(argv[4]);
  size_t esz=dt==0?4:2; uint8_t*w=aligned_alloc(64,O*(size_t)I*esz); memset(w,0x3c,O*(size_t)I*esz);
  float*x=malloc(T*(size_t)I*4); for(size_t k=0;k<T*(size_t)I;k++)x[k]=(k%7)*0.1f; float*y=malloc(T*(size_t)O*4);
  for(int r=0;r<3;r++){
    double w0=wall(),c0=cpu(); cblas_sgemm(CblasRowMajor,CblasNoTrans,CblasTrans,n,n,n,1,a,n,b,n,0,c,n); double w1=wall(),c1=cpu();
    double fl=2.0*n*n*n; printf("sgemm: wall %.1f GFLOP/s, cpu-time %.1f GFLOP/s\n",fl/(w1-w0)/1e9,fl/(c1-c0)/1e9);
    w0=wall();c0=cpu(); lk_linear(y,O,x,I,w,dt,NULL,T,I,0,O); w1=wall();c1=cpu();
    fl=2.0*O*I*T; printf("lk_linear [%dx%d] T=%d dt=%d: wall %.1f GFLOP/s, cpu-time %.1f GFLOP/s\n",O,I,T,dt,fl/(w1-w0)/1e9,fl/(c1-c0)/1e9);
  }
}
