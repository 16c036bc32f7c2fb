/** Shared strings: [zh, en]. Pages may also use `tr(zh, en)` inline. */
export const dict = {
  "app.title": ["FlagEval 评测平台", "FlagEval"],
  "nav.console": ["评测控制台", "Console"],
  "nav.profile": ["个人信息", "Profile"],
  "nav.adminUsers": ["用户审核", "User review"],
  "nav.logout": ["退出", "Log out"],
  "nav.login": ["登录", "Log in"],
  "nav.register": ["注册", "Register"],
  "common.submit": ["提交", "Submit"],
  "common.cancel": ["取消", "Cancel"],
  "common.confirm": ["确认", "Confirm"],
  "common.save": ["保存", "Save"],
  "common.refresh": ["刷新", "Refresh"],
  "common.loading": ["加载中…", "Loading…"],
  "common.none": ["无", "None"],
  "common.set": ["已设置", "set"],
  "common.notSet": ["未设置", "not set"],
  "field.email": ["邮箱", "Email"],
  "field.username": ["用户名", "Username"],
  "field.password": ["密码", "Password"],
  "waiting.title": ["账号等待审核", "Waiting for review"],
  "waiting.body": [
    "您的账号尚未通过审核,审核通过后才能使用此页面。请先完善个人信息。",
    "Your account has not been approved yet; this page needs an approved account. Please complete your profile.",
  ],
  "waiting.link": ["前往个人信息", "Go to profile"],
} as const satisfies Record<string, readonly [string, string]>;

export type DictKey = keyof typeof dict;
