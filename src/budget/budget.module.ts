import { Module } from '@nestjs/common';
import { APP_INTERCEPTOR } from '@nestjs/core';
import { AuditModule } from '../audit/audit.module';
import { DecryptBudgetInterceptor } from './decrypt-budget.interceptor';
import { DecryptBudget } from './decrypt-budget.service';

/**
 * Decrypt budgets across people (DECRYPT_SUBJECT_BUDGET): a global interceptor acting on the
 * routes marked @CountsAgainstDecryptBudget (/decrypt, /rotate, /rewrap, /translate).
 */
@Module({
  imports: [AuditModule],
  providers: [DecryptBudget, { provide: APP_INTERCEPTOR, useClass: DecryptBudgetInterceptor }],
  exports: [DecryptBudget],
})
export class BudgetModule {}
